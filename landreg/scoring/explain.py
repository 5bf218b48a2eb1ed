"""Reading scores: rankings, the explanation of one parcel's score, and how stable a ranking is.

Reads only: nothing here writes (an explanation whose parcel has no current stored indicators
computes them in its query). What a caller sees follows :mod:`landreg.access`: rankings and
explanations cover the parcels the caller's view may see. A caller who may not see a parcel's
confidential facts sees the score of the profile's public variant (:mod:`landreg.scoring.visible`):
computed without the criteria and exclusions built on a confidential field, which its explanation
lists as withheld, so that nothing shown depends on a confidential value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, column, func, select, table, text

from landreg import known
from landreg.access import FULL, View, row_parts, sees_confidential, visible_rows
from landreg.errors import InvalidParameter, NotFound
from landreg.models import Parcel
from landreg.scoring import indicators
from landreg.scoring.criteria import CATALOGUE, EXCLUSIONS
from landreg.scoring.engine import _last_reference, _raw, evaluate, load
from landreg.scoring.methods import coverage, topsis, weighted_sum
from landreg.scoring.profiles import Profile
from landreg.scoring.visible import (
    PUBLIC_VARIANT,
    SCORE,
    scored,
    sees_full_score,
    visible_coverage,
    visible_score,
)

_CONTEXT_STATE = table("context_state", column("changed_at"))
#: How a withheld criterion is labelled, and what of it is left out.
WITHHELD = {"de": "vertraulich", "en": "confidential"}


def ranking(
    conn: Connection,
    profile: Profile,
    ags: str | None = None,
    category: str | None = None,
    limit: int = 20,
    offset: int = 0,
    view: View = FULL,
) -> list[dict]:
    """Ranked parcels of a profile among those ``view`` may see, with rank overall, in their
    municipality and in their category; an unknown municipality or a category the profile does not
    rank is refused (InvalidParameter), not answered with no parcels."""
    if category is not None:
        known.check_categories([category], "category")
        if profile.categories and category not in profile.categories:
            raise InvalidParameter(
                f"category: profile {profile.name} ranks {', '.join(profile.categories)} only, not {category}",
                "category",
            )
    if ags is not None:
        known.check_municipalities(conn, [ags], "ags")
    s, p = SCORE, visible_rows(view).c  # the state of each parcel the view sees
    score = visible_score(view, p.ags)
    ranked = (
        select(
            p.id.label("parcel_id"),
            score.label("score"),
            visible_coverage(view, p.ags).label("coverage"),
            (s.c.computed_at < select(_CONTEXT_STATE.c.changed_at).scalar_subquery()).label("stale"),
            p.ags,
            p.local_ref,
            p.name,
            p.category,
            p.area_m2,
            p.is_sample,
            func.rank().over(order_by=score.desc()).label("rank"),
            func.rank().over(partition_by=p.ags, order_by=score.desc()).label("rank_in_municipality"),
            func.rank().over(partition_by=p.category, order_by=score.desc()).label("rank_in_category"),
        )
        .select_from(scored(p.id.table, p.id, p.version, profile.id))
        .where(score.is_not(None))
        .cte("ranked")
    )
    query = select(ranked)
    if ags is not None:
        query = query.where(ranked.c.ags == ags)
    if category is not None:
        query = query.where(ranked.c.category == category)
    query = query.order_by(ranked.c.rank, ranked.c.local_ref).limit(limit).offset(offset)
    return [dict(r) for r in conn.execute(query).mappings()]


@dataclass
class CriterionExplanation:
    key: str
    label: str
    unit: str
    raw: object
    normalised: float | None
    weight: float
    contribution: float | None  # score points this criterion adds
    available: bool | None  # None: withheld
    gain_if_best: float | None  # score points gained if this criterion were at its best
    withheld: str | None = None  # "vertraulich"/"confidential" where the values are left out
    note: str | None = None  # why a value is unknown: outside the coverage of its layers (landreg.context)


def explanation(conn: Connection, view: View, parcel_id, profile: Profile, lang: str = "de") -> dict:
    """The explanation of the score ``view`` sees of a parcel: NotFound for a parcel the view may not
    see; the public variant's (criteria and exclusions built on a confidential field withheld) for a
    view that may not see the parcel's confidential facts."""
    rows = visible_rows(view).c
    row = conn.execute(
        select(
            rows.version,
            Parcel.version.label("current"),
            Parcel.retired_at,
            sees_confidential(view, rows.ags).label("confidential"),
        )
        .join(Parcel, Parcel.id == rows.id)
        .where(rows.id == parcel_id)
    ).one_or_none()
    if row is None:
        raise NotFound(f"no parcel {parcel_id}")
    # a change waits for review (a retirement's approved version is the latest one, unretired)
    part = "current" if row.version == row.current and row.retired_at is None else "approved"
    return explain(conn, parcel_id, profile, lang, public=not row.confidential, part=part)


def explain(
    conn: Connection, parcel_id, profile: Profile, lang: str = "de", public: bool = False, part: str = "current"
) -> dict:
    """Each criterion's raw value, normalised value, weight and contribution, and what would help most;
    ``public``: of the public variant, with the criteria built on a confidential field withheld;
    ``part``: ``approved`` explains the approved version of a parcel whose change waits for review.

    Reads only: the parcel's stored indicators where they are current, else computed in the query
    (always for an approved version: one parcel, and no question of which stored row is current)."""
    layers = indicators.loaded_layers(conn)
    stale = part == "approved" or bool(indicators.stale_parcel_ids(conn, [parcel_id]))
    frame = load(conn, profile, [parcel_id], computing_with=layers if stale else None, part=part)
    if frame.empty:
        raise NotFound(
            f"parcel {parcel_id} is retired, unknown, or not ranked by profile {profile.name} "
            f"(categories: {', '.join(profile.categories) or 'all'})"
        )
    references = _last_reference(conn, profile) if profile.method == "topsis" else (None, None)
    ev = evaluate(profile, frame, layers, *references)
    hidden = [public and CATALOGUE[key].confidential for key in ev.criteria]
    values, weights = np.where(hidden, np.nan, ev.normalised[0]), ev.weights
    reference = ev.public.reference if public else ev.reference
    score = ev.public.scores[0] if public else ev.scores[0]
    excluded = list(ev.public.excluded_by[0] if public else ev.excluded_by[0])
    covered = float(coverage(values[None, :], weights)[0])
    base = _score(profile, values[None, :], weights, reference)[0]
    criteria = []
    for j, key in enumerate(ev.criteria):
        if hidden[j]:
            criteria.append(_withheld(key, weights[j], lang))
            continue
        v = values[j]
        available = not np.isnan(v)
        improved = values.copy()
        improved[j] = 1.0
        gain = _score(profile, improved[None, :], weights, reference)[0] - base if available else None
        raw = _raw(frame, key, profile)[0]
        criteria.append(
            CriterionExplanation(
                key,
                CATALOGUE[key].label(lang),
                CATALOGUE[key].unit,
                None
                if raw is None or (isinstance(raw, float) and np.isnan(raw))
                else (round(float(raw), 3) if isinstance(raw, float | np.floating) else raw),
                None if not available else round(float(v), 4),
                round(float(weights[j]), 4),
                round(100 * weights[j] * v / covered, 2) if available and profile.method == "weighted_sum" else None,
                available,
                None if gain is None else round(float(gain), 2),
            )
        )
    from landreg.context import unknown_notes  # (it imports the importer, which imports scoring)

    # values unknown where the layers that speak for them do not cover the parcel: say so
    unknown = [CATALOGUE[c.key].layer for c in criteria if c.available is False and CATALOGUE[c.key].layer in layers]
    unchecked = [
        e for e in profile.exclusions if EXCLUSIONS[e].layer in layers and pd.isna(frame[EXCLUSIONS[e].column][0])
    ]
    kinds = [*unknown, *(EXCLUSIONS[e].layer for e in unchecked)]
    notes = unknown_notes(conn, parcel_id, kinds, lang, approved=part == "approved")
    for c in criteria:
        c.note = notes.get(CATALOGUE[c.key].layer) if c.available is False else None
    stored = conn.execute(
        text(f"""
        SELECT s.{"public_score" if public else "score"} AS score,
               s.parcel_version <> :version OR s.computed_at < (SELECT changed_at FROM context_state) AS stale
          FROM {"approved_score" if part == "approved" else "parcel_score"} s
         WHERE s.profile_id = :p AND s.parcel_id = :id
    """),
        {"p": profile.id, "id": parcel_id, "version": int(frame["parcel_version"][0])},
    ).one_or_none()
    helpful = sorted((c for c in criteria if c.gain_if_best), key=lambda c: -c.gain_if_best)
    return {
        "parcel_id": str(parcel_id),
        "profile": profile.name,
        "profile_version": profile.version,
        "method": profile.method,
        "variant": PUBLIC_VARIANT.get(lang, PUBLIC_VARIANT["de"]) if public else None,
        "score": None if np.isnan(score) else round(float(score), 2),
        "stored_score": None if stored is None or stored.score is None else round(stored.score, 2),
        "stored_score_stale": None if stored is None else stored.stale,
        "coverage": round(covered, 4),
        "excluded_by": excluded,
        "not_available": [c.key for c in criteria if c.available is False],
        "criteria": [c.__dict__ for c in criteria],
        "would_help_most": [{"criterion": c.key, "label": c.label, "gain": c.gain_if_best} for c in helpful[:3]],
        "exclusions_unknown": {e: notes[EXCLUSIONS[e].layer] for e in unchecked if EXCLUSIONS[e].layer in notes},
        "withheld": [c.key for c in criteria if c.withheld]
        + ([e for e in profile.exclusions if EXCLUSIONS[e].confidential] if public else []),
    }


def drivers(
    conn: Connection, profile: Profile, parcel_ids: list, lang: str = "de", top: int = 3, view: View = FULL
) -> dict[str, dict]:
    """For many parcels at once: the criteria that add most to the score ``view`` sees of each, and
    the main weakness (of the public variant where the view may not see the confidential facts:
    a criterion built on a confidential field is then never named).

    Strengths are ranked by weight x normalised value (in a weighted sum, the score points the
    criterion adds); the weakness is the criterion whose shortfall costs most (weight x (1 - value)).
    """
    frame = _seen_versions(conn, profile, parcel_ids, view)
    if frame.empty:
        return {}
    references = _last_reference(conn, profile) if profile.method == "topsis" else (None, None)
    ev = evaluate(profile, frame, indicators.loaded_layers(conn), *references)
    confidential = np.array([CATALOGUE[key].confidential for key in ev.criteria], dtype=bool)
    public_rows = np.array([not sees_full_score(view, ags) for ags in frame["ags"]], dtype=bool)
    values = np.where(public_rows[:, None] & confidential[None, :], np.nan, ev.normalised)
    strength = ev.weights * values  # NaN where a criterion could not be evaluated or is withheld
    shortfall = ev.weights * (1 - values)
    labels = [CATALOGUE[key].label(lang) for key in ev.criteria]
    result = {}
    for i, parcel_id in enumerate(frame["parcel_id"].astype(str)):
        covered = coverage(values[i : i + 1], ev.weights)[0] or 1.0
        order = [j for j in np.argsort(-np.nan_to_num(strength[i], nan=-1.0)) if strength[i, j] > 0][:top]
        points = 100 / covered if profile.method == "weighted_sum" else None
        worst = int(np.nanargmax(shortfall[i])) if not np.all(np.isnan(shortfall[i])) else None
        result[parcel_id] = {
            "drivers": [
                [labels[j], None if points is None else round(float(strength[i, j] * points), 1)] for j in order
            ],
            "weakness": labels[worst] if worst is not None and shortfall[i, worst] > 0 else None,
        }
    return result


def _seen_versions(conn: Connection, profile: Profile, parcel_ids: list, view: View) -> pd.DataFrame:
    """``load``'s raw values of these parcels in the version ``view`` sees: the approved one of a
    parcel whose change waits for review, where the view sees that one, else the latest."""
    approved = set()
    if "approved" in row_parts(view):
        rows = visible_rows(view, part="approved").c
        wanted = [str(i) for i in parcel_ids]
        approved = {str(i) for i in conn.execute(select(rows.id).where(rows.id.in_(wanted))).scalars()}
    latest = [i for i in parcel_ids if str(i) not in approved]
    frames = [load(conn, profile, latest)] if latest else []
    if approved:
        frames.append(load(conn, profile, sorted(approved), part="approved"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _score(profile: Profile, values: np.ndarray, weights: np.ndarray, reference) -> np.ndarray:
    if profile.method == "topsis":
        return topsis(values, weights, reference)
    return weighted_sum(values, weights)


def _withheld(key: str, weight: float, lang: str) -> CriterionExplanation:
    """A criterion built on a confidential field, for a caller who may not see it: the profile is
    public (key, label, unit, weight), the parcel's values are not."""
    criterion = CATALOGUE[key]
    return CriterionExplanation(
        key, criterion.label(lang), criterion.unit, None, None, round(float(weight), 4), None, None, None,
        WITHHELD.get(lang, WITHHELD["de"]),
    )  # fmt: skip


def sensitivity(conn: Connection, profile: Profile, change: float = 0.2, top: int = 20) -> dict:
    """Vary each weight by ±change (then renormalise) and report how stable the top-N stays."""
    if not 0 < change < 1:
        raise ValueError("change must lie between 0 and 1 (e.g. 0.2 for ±20 %)")
    ev = evaluate(profile, load(conn, profile), indicators.loaded_layers(conn))
    eligible = ~np.isnan(ev.scores)
    values, base = ev.normalised[eligible], ev.scores[eligible]
    n = min(top, len(base))
    base_top = np.argsort(-base, kind="stable")[:n]
    results = []
    for j, key in enumerate(ev.criteria):
        for sign in (+1, -1):
            weights = ev.weights.copy()
            weights[j] *= 1 + sign * change
            weights /= weights.sum()
            scores = topsis(values, weights) if profile.method == "topsis" else weighted_sum(values, weights)
            new_top = np.argsort(-scores, kind="stable")[:n]
            from scipy.stats import kendalltau  # scipy takes 0.7 s to import: only when needed

            tau = kendalltau(base[base_top], scores[base_top]).statistic if n > 1 else 1.0
            results.append(
                {
                    "criterion": key,
                    "change": sign * change,
                    "top_n_kept": len(set(base_top) & set(new_top)) / n if n else 1.0,
                    "kendall_tau_top_n": None if np.isnan(tau) else round(float(tau), 4),
                }
            )
    kept = [r["top_n_kept"] for r in results]
    taus = [r["kendall_tau_top_n"] for r in results if r["kendall_tau_top_n"] is not None]
    return {
        "profile": profile.name,
        "profile_version": profile.version,
        "parcels": int(eligible.sum()),
        "top_n": n,
        "change": change,
        "min_top_n_kept": min(kept, default=1.0),
        "min_kendall_tau": min(taus, default=1.0),
        "variations": results,
    }


def stale_scores(conn: Connection) -> int:
    """How many stored scores predate their parcel's current version or the context layers."""
    return conn.execute(
        text("""
        SELECT count(*) FROM parcel_score s JOIN parcel p ON p.id = s.parcel_id
         WHERE p.retired_at IS NULL
           AND (s.parcel_version <> p.version OR s.computed_at < (SELECT changed_at FROM context_state))
    """)
    ).scalar_one()
