"""Reading scores: rankings, the explanation of one parcel's score, and how stable a ranking is.

Reads only: nothing here writes (an explanation whose parcel has no current stored indicators
computes them in its query). What a caller sees follows :mod:`landreg.access`: rankings and
explanations cover the parcels the caller's view may see, and a criterion or exclusion built on a
confidential field (``source_field`` in the catalogue) is withheld from an explanation for a caller
who may not see that parcel's confidential facts.

The score itself is still computed from every criterion, confidential ones included: a public
variant of the score (computed from public facts only) is a later change (issue 20). Until then,
a score shown beside withheld criteria lets one infer what was withheld.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, column, func, or_, select, table, text

from landreg.access import FULL, View, sees_confidential, visible_parcels
from landreg.errors import NotFound
from landreg.models import Parcel
from landreg.scoring import indicators
from landreg.scoring.criteria import CATALOGUE, EXCLUSIONS
from landreg.scoring.engine import _last_reference, _raw, evaluate, load
from landreg.scoring.methods import topsis, weighted_sum
from landreg.scoring.profiles import Profile

_SCORE = table(
    "parcel_score",
    column("parcel_id"),
    column("profile_id"),
    column("parcel_version"),
    column("score"),
    column("coverage"),
    column("computed_at"),
)
_CONTEXT_STATE = table("context_state", column("changed_at"))
#: How a withheld criterion is labelled, and what of it is left out.
WITHHELD = {"de": "vertraulich", "en": "confidential"}
_VALUES = ("raw", "normalised", "contribution", "available", "gain_if_best")


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
    municipality and in their category."""
    s, p = _SCORE, Parcel
    ranked = (
        select(
            s.c.parcel_id,
            s.c.score,
            s.c.coverage,
            or_(
                s.c.parcel_version != p.version,
                s.c.computed_at < select(_CONTEXT_STATE.c.changed_at).scalar_subquery(),
            ).label("stale"),
            p.ags,
            p.local_ref,
            p.name,
            p.category,
            p.area_m2,
            p.is_sample,
            func.rank().over(order_by=s.c.score.desc()).label("rank"),
            func.rank().over(partition_by=p.ags, order_by=s.c.score.desc()).label("rank_in_municipality"),
            func.rank().over(partition_by=p.category, order_by=s.c.score.desc()).label("rank_in_category"),
        )
        .join_from(s, p, p.id == s.c.parcel_id)
        .where(s.c.profile_id == profile.id, s.c.score.is_not(None), visible_parcels(view, p))
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
    available: bool
    gain_if_best: float | None  # score points gained if this criterion were at its best
    withheld: str | None = None  # "vertraulich"/"confidential" where the values are left out


def explanation(conn: Connection, view: View, parcel_id, profile: Profile, lang: str = "de") -> dict:
    """The explanation of a parcel's score as ``view`` may see it: NotFound for a parcel the view
    may not see, and for a view that may not see the parcel's confidential facts, the criteria and
    exclusions built on a confidential field withheld (see :func:`withhold_confidential`)."""
    row = conn.execute(
        select(Parcel.id, sees_confidential(view, Parcel.ags).label("confidential")).where(
            Parcel.id == parcel_id, visible_parcels(view, Parcel)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"no parcel {parcel_id}")
    result = explain(conn, parcel_id, profile, lang)
    return result if row.confidential else withhold_confidential(result, profile, lang)


def withhold_confidential(result: dict, profile: Profile, lang: str = "de") -> dict:
    """An explanation without anything of a criterion or an exclusion built on a confidential field:
    such a criterion keeps its key, label, unit and weight (the profile is public) and is marked
    withheld; its values, its availability and whether such an exclusion applies are left out.

    The score still counts them (a public variant of the score is a later change, issue 20)."""
    hidden = {c["key"] for c in result["criteria"] if CATALOGUE[c["key"]].confidential}
    left_out = dict.fromkeys(_VALUES) | {"withheld": WITHHELD.get(lang, WITHHELD["de"])}
    criteria = [c | left_out if c["key"] in hidden else c for c in result["criteria"]]
    return result | {
        "excluded_by": [e for e in result["excluded_by"] if not EXCLUSIONS[e].confidential],
        "not_available": [k for k in result["not_available"] if k not in hidden],
        "criteria": criteria,
        "would_help_most": [h for h in result["would_help_most"] if h["criterion"] not in hidden],
        "withheld": [c["key"] for c in criteria if c["key"] in hidden]
        + [e for e in profile.exclusions if EXCLUSIONS[e].confidential],
    }


def explain(conn: Connection, parcel_id, profile: Profile, lang: str = "de") -> dict:
    """Each criterion's raw value, normalised value, weight and contribution, and what would help most.

    Reads only: the parcel's stored indicators where they are current, else computed in the query."""
    layers = indicators.loaded_layers(conn)
    stale = bool(indicators.stale_parcel_ids(conn, [parcel_id]))
    frame = load(conn, profile, [parcel_id], computing_with=layers if stale else None)
    if frame.empty:
        raise NotFound(
            f"parcel {parcel_id} is retired, unknown, or not ranked by profile {profile.name} "
            f"(categories: {', '.join(profile.categories) or 'all'})"
        )
    reference = _last_reference(conn, profile) if profile.method == "topsis" else None
    ev = evaluate(profile, frame, layers, reference)
    values, weights = ev.normalised[0], ev.weights
    covered = float(ev.coverage[0])
    base = _score(profile, values[None, :], weights, ev)[0]
    criteria = []
    for j, key in enumerate(ev.criteria):
        v = values[j]
        available = not np.isnan(v)
        improved = values.copy()
        improved[j] = 1.0
        gain = _score(profile, improved[None, :], weights, ev)[0] - base if available else None
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
    stored = conn.execute(
        text("""
        SELECT s.score, s.parcel_version <> p.version OR s.computed_at < (SELECT changed_at FROM context_state) AS stale
          FROM parcel_score s JOIN parcel p ON p.id = s.parcel_id
         WHERE s.profile_id = :p AND s.parcel_id = :id
    """),
        {"p": profile.id, "id": parcel_id},
    ).one_or_none()
    helpful = sorted((c for c in criteria if c.gain_if_best), key=lambda c: -c.gain_if_best)
    return {
        "parcel_id": str(parcel_id),
        "profile": profile.name,
        "profile_version": profile.version,
        "method": profile.method,
        "score": None if np.isnan(ev.scores[0]) else round(float(ev.scores[0]), 2),
        "stored_score": None if stored is None or stored.score is None else round(stored.score, 2),
        "stored_score_stale": None if stored is None else stored.stale,
        "coverage": round(covered, 4),
        "excluded_by": ev.excluded_by[0],
        "not_available": [c.key for c in criteria if not c.available],
        "criteria": [c.__dict__ for c in criteria],
        "would_help_most": [{"criterion": c.key, "label": c.label, "gain": c.gain_if_best} for c in helpful[:3]],
        "withheld": [],  # criteria and exclusions left out for the caller (see withhold_confidential)
    }


def drivers(conn: Connection, profile: Profile, parcel_ids: list, lang: str = "de", top: int = 3) -> dict[str, dict]:
    """For many parcels at once: the criteria that add most to each score, and the main weakness.

    Strengths are ranked by weight x normalised value (in a weighted sum, the score points the
    criterion adds); the weakness is the criterion whose shortfall costs most (weight x (1 - value)).
    """
    frame = load(conn, profile, parcel_ids)
    if frame.empty:
        return {}
    reference = _last_reference(conn, profile) if profile.method == "topsis" else None
    ev = evaluate(profile, frame, indicators.loaded_layers(conn), reference)
    strength = ev.weights * ev.normalised  # NaN where a criterion could not be evaluated
    shortfall = ev.weights * (1 - ev.normalised)
    labels = [CATALOGUE[key].label(lang) for key in ev.criteria]
    result = {}
    for i, parcel_id in enumerate(frame["parcel_id"].astype(str)):
        covered = ev.coverage[i] or 1.0
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


def _score(profile: Profile, values: np.ndarray, weights: np.ndarray, ev) -> np.ndarray:
    if profile.method == "topsis":
        return topsis(values, weights, ev.reference)
    return weighted_sum(values, weights)


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
