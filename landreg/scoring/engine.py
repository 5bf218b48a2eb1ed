"""Scoring parcels: raw values from the database, normalised and aggregated here, stored with
the profile version and the parcel version that produced them.

* ``recompute``: every current parcel under every (or one) current profile – the indicators
  are computed by two connections in parallel, then the profiles are scored in parallel, each in
  its own transaction, their scores replaced through a staging table (:func:`_replace`);
* ``rescore``: a few parcels (after an edit or import), in the caller's transaction; TOPSIS
  scores them against the ideals of the profile's last full run.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Connection, Engine, QueuePool, text

from landreg.access import Principal, acting
from landreg.db import local_settings
from landreg.errors import InvalidParameter
from landreg.scoring import approved, indicators
from landreg.scoring.criteria import ABSTAND_CLASSES, CATALOGUE, EXCLUSIONS, normalise
from landreg.scoring.methods import TopsisReference, coverage, topsis, weighted_sum
from landreg.scoring.profiles import Profile, current_profile, current_profiles, save_profile

_ATTRIBUTES = (
    "restriction_class",
    "availability",
    "contamination",
    "ownership",
    "owner_willing",
    "planning_status",
    "servicing",
)


@dataclass
class Evaluation:
    """Scores of a set of parcels under one profile, and how they came about."""

    profile: Profile
    frame: pd.DataFrame  # parcel_id, parcel_version, ags, category, raw values
    criteria: list[str]
    normalised: np.ndarray
    weights: np.ndarray
    scores: np.ndarray
    coverage: np.ndarray
    excluded_by: list[tuple[str, ...]]  # per parcel, the exclusions that apply
    unavailable: list[str] = field(default_factory=list)  # criteria whose layer is missing
    unchecked_exclusions: list[str] = field(default_factory=list)
    reference: TopsisReference | None = None
    public: PublicVariant | None = None


@dataclass
class PublicVariant:
    """The same profile computed from public facts only: criteria built on a confidential field
    count as not available (their weight is shared out among the others, as for a missing layer),
    and exclusions built on one are not applied. Neither the score nor its absence then depends on
    a confidential value, so it may be shown to anyone who sees the parcel."""

    scores: np.ndarray
    excluded_by: list[tuple[str, ...]]
    coverage: np.ndarray  # the share of the weights it had values for (none built on a confidential field)
    reference: TopsisReference | None = None


def public_variant(
    profile: Profile, criteria: list[str], normalised: np.ndarray, weights: np.ndarray, excluded: np.ndarray,
    exclusions: list[str], reference: TopsisReference | None = None,
) -> PublicVariant:  # fmt: skip
    """``excluded``: per parcel (row) and exclusion of ``exclusions`` (column), whether it applies."""
    hidden = np.array([CATALOGUE[c].confidential for c in criteria], dtype=bool)
    values = normalised.copy()
    values[:, hidden] = np.nan
    if profile.method == "topsis":
        reference = reference or TopsisReference.of(values, weights)
        scores = topsis(values, weights, reference)
    else:
        scores = weighted_sum(values, weights)
    public = np.array([not EXCLUSIONS[e].confidential for e in exclusions], dtype=bool)
    excluded = excluded[:, public]
    scores = np.where(excluded.any(axis=1), np.nan, scores)
    names = _names_per_row(excluded, [e for e, p in zip(exclusions, public) if p])
    return PublicVariant(scores, names, coverage(values, weights), reference)


def _names_per_row(flags: np.ndarray, names: list[str]) -> list[tuple[str, ...]]:
    """For each row of ``flags`` (rows × ``names``) the names of its set columns. A few combinations
    recur over many parcels: each is one tuple, shared by its rows (a new list per parcel kept the
    garbage collector busy: 0.4 s for 550,000 parcels)."""
    codes = flags.astype(np.int64) @ (np.int64(1) << np.arange(len(names), dtype=np.int64))
    combinations = {
        code: tuple(n for bit, n in enumerate(names) if code >> bit & 1) for code in np.unique(codes).tolist()
    }
    return [combinations[code] for code in codes.tolist()]


_INDICATOR_JOIN = "LEFT JOIN parcel_indicator i ON i.parcel_id = p.id AND i.parcel_version = p.version"


def load(
    conn: Connection,
    profile: Profile | None,
    parcel_ids: Sequence | None = None,
    computing_with: set[str] | None = None,
    part: str = "current",
) -> pd.DataFrame:
    """Raw values of the parcels a profile ranks (current parcels of its categories; all without profile).

    The indicators are the stored ones of each parcel's current version; ``computing_with`` (the
    loaded context layers) computes them in the query instead, storing nothing (for reads of a
    few parcels whose stored indicators are missing or stale).

    ``part`` (:data:`landreg.access.ROW_PARTS`): ``approved`` reads the approved versions of the
    parcels whose latest change waits for review (:mod:`landreg.scoring.approved`) instead.
    """
    where = ["p.retired_at IS NULL"]
    params: dict = {}
    if profile and profile.categories:
        where.append("p.category = ANY(:categories)")
        params["categories"] = list(profile.categories)
    if parcel_ids is not None:
        where.append("p.id = ANY(:ids)")
        params["ids"] = list(parcel_ids)
    indicator_join = (
        (approved.INDICATOR_JOIN if part == "approved" else _INDICATOR_JOIN)
        if computing_with is None
        else f"LEFT JOIN LATERAL (SELECT {indicators.select_list(computing_with)}) i ON true"
    )
    query = f"""
        SELECT p.id AS parcel_id, p.version AS parcel_version, p.ags, p.category,
               {", ".join("p." + a for a in _ATTRIBUTES)}, p.area_m2 / 10000.0 AS area_ha,
               {", ".join("i." + c for c in indicators.COLUMNS)}
          FROM {approved.ROWS if part == "approved" else "parcel"} p {indicator_join}
         WHERE {" AND ".join(where)}
    """
    if not params:  # all parcels: COPY and a CSV reader are several times faster than row objects
        return _copy_frame(conn, query)
    rows = conn.execute(text(query), params)
    return pd.DataFrame(rows.all(), columns=list(rows.keys()))


def _copy_frame(conn: Connection, query: str) -> pd.DataFrame:
    """The result of a parameterless query, read with COPY ... TO STDOUT (CSV)."""
    buffer = io.BytesIO()
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    text_columns = ["parcel_id", "ags", "category", *[a for a in _ATTRIBUTES if a != "restriction_class"]]
    flags = ("in_flood_zone", "in_protected_area")  # 't', 'f' or empty (unknown): read as text, mapped below
    frame = pd.read_csv(buffer, dtype={c: "object" for c in (*text_columns, *flags)})
    for flag in flags:
        frame[flag] = frame[flag].map({"t": True, "f": False})
    return frame


def _normalised(spec: dict, raw: np.ndarray) -> np.ndarray:
    """:func:`~landreg.scoring.criteria.normalise`, for a table once per distinct code (a column of
    few codes over many parcels): the same values without a Python call per parcel."""
    if spec["type"] != "table":
        return normalise(spec, raw)
    codes, distinct = pd.factorize(raw)  # missing (None, NaN): -1, the None appended
    return normalise(spec, np.append(np.asarray(distinct, dtype=object), None))[codes]


def _raw(frame: pd.DataFrame, key: str, profile: Profile) -> np.ndarray:
    column = CATALOGUE[key].column
    if key == "abstand":  # margin over the distance of the targeted Abstandserlass class
        return frame[column].to_numpy(dtype=float) - ABSTAND_CLASSES[profile.abstand_class]
    if CATALOGUE[key].function["type"] == "table":
        return frame[column].to_numpy(dtype=object)
    return frame[column].to_numpy(dtype=float)


def evaluate(
    profile: Profile,
    frame: pd.DataFrame,
    layers: set[str],
    reference: TopsisReference | None = None,
    public_reference: TopsisReference | None = None,
) -> Evaluation:
    criteria = list(profile.weights)
    weights = np.array([profile.weights[c] for c in criteria])
    unavailable = [c for c in criteria if CATALOGUE[c].layer and CATALOGUE[c].layer not in layers]
    normalised = (
        np.column_stack(
            [
                np.full(len(frame), np.nan)
                if c in unavailable
                else _normalised(profile.functions[c], _raw(frame, c, profile))
                for c in criteria
            ]
        )
        if len(frame)
        else np.empty((0, len(criteria)))
    )
    if profile.method == "topsis":
        reference = reference or TopsisReference.of(normalised, weights)
        scores = topsis(normalised, weights, reference)
    else:
        scores = weighted_sum(normalised, weights)
    checked, hits, unchecked = [], [], []
    for name in profile.exclusions:
        layer, column = EXCLUSIONS[name].layer, EXCLUSIONS[name].column
        if name == "owner_objection":  # read from the field the catalogue says it is built on
            hits.append((frame[EXCLUSIONS[name].source_field] == "nein").to_numpy(dtype=bool))
        elif layer not in layers:
            unchecked.append(name)
            continue
        else:
            hits.append(frame[column].fillna(False).to_numpy(dtype=bool))
        checked.append(name)
    excluded = np.column_stack(hits) if hits else np.zeros((len(frame), 0), dtype=bool)
    excluded_by = _names_per_row(excluded, checked)
    public = public_variant(profile, criteria, normalised, weights, excluded, checked, public_reference)
    scores = np.where(excluded.any(axis=1), np.nan, scores)
    return Evaluation(
        profile,
        frame,
        criteria,
        normalised,
        weights,
        scores,
        coverage(normalised, weights),
        excluded_by,
        unavailable,
        unchecked,
        reference,
        public,
    )


_SCORE_COLUMNS = (
    "parcel_id, profile_id, parcel_version, score, coverage, excluded_by, public_score, public_excluded_by, "
    "public_coverage"
)


def _store(conn: Connection, evaluation: Evaluation, table: str = "parcel_score") -> None:
    """Write the scores with COPY (the caller has removed the ones they replace).

    Arrow writes the CSV: ten times faster than pandas' ``to_csv`` (456,000 scores: 0.15 s instead
    of 1.5 s), and without holding the GIL, so that a full run's profiles overlap. A missing score
    (NaN) becomes a null, an empty field, which COPY reads as NULL; numbers are written in their
    shortest exact form."""
    frame, n = evaluation.frame, len(evaluation.frame)

    def number(values: np.ndarray) -> pa.Array:
        return pa.array(values, type=pa.float64(), from_pandas=True)  # NaN: null

    def names(rows: list[tuple[str, ...]]) -> pa.Array:
        return pa.array(["{" + ",".join(e) + "}" for e in rows], type=pa.string())

    rows = pa.table(
        {
            "parcel_id": pa.array(frame["parcel_id"].astype(str).to_numpy(dtype=object), type=pa.string()),
            "profile_id": pa.array(np.full(n, evaluation.profile.id, dtype=np.int64)),
            "parcel_version": pa.array(frame["parcel_version"].to_numpy(dtype=np.int64)),
            "score": number(np.round(evaluation.scores, 6)),
            "coverage": number(evaluation.coverage),
            "excluded_by": names(evaluation.excluded_by),
            "public_score": number(np.round(evaluation.public.scores, 6)),
            "public_excluded_by": names(evaluation.public.excluded_by),
            "public_coverage": number(evaluation.public.coverage),
        }
    )
    sink = pa.BufferOutputStream()  # Arrow's own stream: a Python file object takes the GIL for each chunk
    pacsv.write_csv(rows, sink, pacsv.WriteOptions(include_header=False))
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table} ({_SCORE_COLUMNS}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(memoryview(sink.getvalue()))


def _replace(conn: Connection, evaluation: Evaluation) -> None:
    """Make the profile's scores these: staged with COPY, then the stored ones updated in place,
    the ones of parcels no longer ranked removed and those of new ones added.

    The same rows as deleting all and inserting the new ones, but an update leaves the profile alone,
    so the foreign key on it is checked only for the added rows (a check per row took more time than
    the writing itself). Where the update found a row for every staged score, nothing is added and
    the search for new ones is skipped (a profile of 550,000 parcels: 1.1 s).

    The three statements match whole sets, so they run without nested loops whatever the statistics
    of ``parcel_score`` say: an emptied and vacuumed table counts as empty until analysed again, and
    the planner then probed it once per staged row with a scan of all it held, the rows being added
    included (a full run of 1M parcels whose scores had been emptied and the table vacuumed had not
    ended after 14 minutes). The tile triggers these statements fire plan with their own setting
    (migration 0031): a few removed or added scores are looked up in ``parcel`` by key."""
    conn.execute(
        text("""
        DROP TABLE IF EXISTS pg_temp.score_staged;
        CREATE TEMP TABLE score_staged (LIKE parcel_score INCLUDING DEFAULTS) ON COMMIT DROP;
    """)
    )
    _store(conn, evaluation, "score_staged")
    conn.execute(text("ANALYZE pg_temp.score_staged"))
    with local_settings(conn, enable_nestloop="off"):
        _merge_staged(conn, evaluation.profile.id, len(evaluation.frame))


def _merge_staged(conn: Connection, profile_id: int, staged: int) -> None:
    """The profile's scores made the ``staged`` ones of ``score_staged``."""
    profile = {"p": profile_id}
    conn.execute(
        text("""
        DELETE FROM parcel_score s
         WHERE s.profile_id = :p AND NOT EXISTS (SELECT FROM score_staged n WHERE n.parcel_id = s.parcel_id)
    """),
        profile,
    )
    changed = ", ".join(f"{c} = n.{c}" for c in _SCORE_COLUMNS.split(", ")[2:])
    updated = conn.execute(
        text(f"""
        UPDATE parcel_score s SET {changed}, computed_at = n.computed_at
          FROM score_staged n WHERE s.profile_id = :p AND s.parcel_id = n.parcel_id
    """),
        profile,
    ).rowcount
    if updated == staged:  # every staged score had a row (the parcels ranked as in the last run)
        return
    conn.execute(
        text(f"""
        INSERT INTO parcel_score ({_SCORE_COLUMNS}, computed_at) SELECT {_SCORE_COLUMNS}, computed_at FROM score_staged n
         WHERE NOT EXISTS (SELECT FROM parcel_score s WHERE s.profile_id = :p AND s.parcel_id = n.parcel_id)
         ORDER BY n.parcel_id  -- in the key's order: each row lands beside the last (550,000: 4.6 s, not 6.4)
    """),
        profile,
    )


def _last_reference(conn: Connection, profile: Profile) -> tuple[TopsisReference | None, TopsisReference | None]:
    """The TOPSIS references of the profile's last full run: of the profile and of its public variant."""
    data = conn.execute(
        text("""
        SELECT reference FROM scoring_run WHERE profile_id = :p ORDER BY finished_at DESC LIMIT 1
    """),
        {"p": profile.id},
    ).scalar_one_or_none()
    if not data:
        return None, None
    public = data.get("public")
    return TopsisReference.from_json(data), TopsisReference.from_json(public) if public else None


def score_profile(conn: Connection, profile: Profile, actor: str, parcels: pd.DataFrame | None = None) -> Evaluation:
    """Score all parcels the profile ranks and record the run.

    ``parcels`` (from ``load`` with the profile None) spares reading them again for each profile;
    without it, stale indicators are refreshed and the parcels read here.
    """
    if parcels is None:  # the caller's run holds the context lock otherwise (:func:`recompute`)
        indicators.hold_context(conn)  # the scores are of the indicators read here, as a change leaves them
        indicators.refresh_stale(conn)
        approved.store_indicators(conn, approved.stale_indicator_ids(conn), indicators.loaded_layers(conn))
        frame = load(conn, profile)
    else:
        frame = parcels[parcels["category"].isin(profile.categories)] if profile.categories else parcels
        frame = frame.reset_index(drop=True)
    layers = indicators.loaded_layers(conn)
    evaluation = evaluate(profile, frame, layers)
    _replace(conn, evaluation)
    public_reference = evaluation.public.reference
    _score_approved(conn, profile, layers, (evaluation.reference, public_reference))
    reference = evaluation.reference.to_json() if evaluation.reference else {}
    if evaluation.public.reference is not None:
        reference["public"] = evaluation.public.reference.to_json()
    conn.execute(
        text("""
        INSERT INTO scoring_run (profile_id, actor, parcels, reference) VALUES (:p, :actor, :n, CAST(:ref AS jsonb))
    """),
        {
            "p": profile.id,
            "actor": actor,
            "n": len(evaluation.frame),
            "ref": json.dumps(
                reference
                | {"unavailable": evaluation.unavailable, "unchecked_exclusions": evaluation.unchecked_exclusions}
            ),
        },
    )
    return evaluation


def save_scored_profile(
    conn: Connection,
    name: str,
    title: str,
    purpose: str,
    definition: dict,
    actor: str | Principal,
    based_on: int | None = None,
) -> tuple[Profile, list[str]]:
    """Save a profile (:func:`~landreg.scoring.profiles.save_profile`) and, when that made a new
    version, score every parcel it ranks at once, in the caller's transaction: how a changed profile
    is published, by ``PUT /profiles/{name}`` and by the workspace's profile editor alike.
    ``actor``: the ministry, or the operator's name on the command line."""
    actor = acting(actor, ("ministry",), "saving a scoring profile")
    profile, notes = save_profile(conn, name, title, purpose, definition, actor, based_on)
    if not any(n.startswith("unchanged") for n in notes):
        score_profile(conn, profile, actor)
    return profile, notes


#: The progress message of :func:`recompute` that says how many parcels' indicators it computed.
INDICATORS_COMPUTED = "indicators computed for parcels:"


def recompute(
    engine: Engine,
    actor: str,
    profile_name: str | None = None,
    workers: int = 2,
    progress: Callable[[str], None] | None = None,
    all_indicators: bool = False,
) -> list[Evaluation]:
    """Full rescoring: the indicators of all current parcels that lack current ones (``all_indicators``:
    of all of them; in parallel), then the profiles (in parallel, each in its own transaction: a read
    sees a profile's old or new scores).

    Current indicators (of the parcel's version, by this release's definition, computed after the
    last change of a context layer) are taken to be the values a computation would give, so they are
    kept: at 1M parcels computing them is more than half of a run's work. A change of a context layer
    waits for the run, and the run for a change under way (:func:`indicators.hold_context`): the
    scores are of the indicators it read."""
    say = progress or (lambda _: None)
    if _pool_room(engine) < 2:
        raise InvalidParameter(
            "a full scoring run needs 2 database connections at least: set LANDREG_DB_POOL_SIZE to 2 or more",
            "LANDREG_DB_POOL_SIZE",
        )
    with engine.connect() as guard:  # holds the lock for the whole run: one connection less for the work
        indicators.hold_context(guard, session=True)
        guard.commit()  # the lock stays, the connection idles outside a transaction
        try:
            return _recompute(engine, actor, profile_name, workers, say, all_indicators, _pool_room(engine) - 1)
        finally:
            guard.execute(text("SELECT pg_advisory_unlock_shared(:key)"), {"key": indicators.CONTEXT_LOCK})
            guard.commit()


def _recompute(
    engine: Engine,
    actor: str,
    profile_name: str | None,
    workers: int,
    say: Callable[[str], None],
    all_indicators: bool,
    room: int,
) -> list[Evaluation]:
    say("indicators")

    def shard(i: int) -> int:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL jit = off"))
            return indicators.compute(conn, shard=(i, workers), stale_only=not all_indicators, context_held=True)

    with ThreadPoolExecutor(max(1, min(workers, room))) as pool:
        computed = sum(pool.map(shard, range(workers)))
    with engine.begin() as conn:
        # the approved versions of parcels whose change waits for review: few, computed one by one
        approved.store_indicators(conn, approved.pending_ids(conn), indicators.loaded_layers(conn))
    with engine.begin() as conn:
        profiles = [current_profile(conn, profile_name)] if profile_name else current_profiles(conn)
        say("reading parcels")
        parcels = load(conn, None)
    say(f"{INDICATORS_COMPUTED} {computed:,} of {len(parcels):,}")

    def score(profile: Profile) -> Evaluation:
        say(f"profile {profile.name} v{profile.version}")
        with engine.begin() as conn:
            return score_profile(conn, profile, actor, parcels)

    # a thread per profile (at most twice ``workers``, and no more than the pool holds): while one
    # evaluates in Python, the others' statements run (1M, 3 profiles: 15 s after reading the parcels
    # instead of 21 s with two threads)
    with ThreadPoolExecutor(max(1, min(len(profiles), 2 * workers, room))) as pool:
        return list(pool.map(score, profiles))


def _pool_room(engine: Engine) -> int:
    """How many connections the engine's pool gives out at once (a thread more would wait for one,
    and time out: a profile at 1M takes longer than the pool's 30 s)."""
    pool = engine.pool  # QueuePool has no public accessor for its overflow limit
    if not isinstance(pool, QueuePool) or pool._max_overflow < 0:
        return 1_000
    return pool.size() + pool._max_overflow


def rescore(conn: Connection, parcel_ids: Sequence) -> None:
    """Recompute these parcels' indicators and re-score them under every current profile, in the caller's
    transaction."""
    if not parcel_ids:
        return
    indicators.hold_context(conn)  # before reading which layers there are
    layers = indicators.loaded_layers(conn)
    indicators.compute(
        conn, parcel_ids, layers=layers, context_held=True
    )  # also without profiles: the Abstand class needs them
    profiles = current_profiles(conn)
    if not profiles:
        return
    parcels = load(conn, None, parcel_ids)
    conn.execute(
        text("DELETE FROM parcel_score WHERE profile_id = ANY(:profiles) AND parcel_id = ANY(:ids)"),
        {"profiles": [p.id for p in profiles], "ids": list(parcel_ids)},
    )
    for profile in profiles:
        frame = parcels[parcels["category"].isin(profile.categories)] if profile.categories else parcels
        if len(frame):
            references = _last_reference(conn, profile) if profile.method == "topsis" else (None, None)
            _store(conn, evaluate(profile, frame.reset_index(drop=True), layers, *references))


def _score_approved(
    conn: Connection,
    profile: Profile,
    layers: set[str],
    references: tuple[TopsisReference | None, TopsisReference | None],
    parcel_ids: Sequence | None = None,
) -> None:
    """Score the approved versions of pending parcels (``parcel_ids``; None: all) under the profile,
    replacing their stored scores: against ``references``, the TOPSIS ideals of the latest versions'
    scores, so that a version others see ranks among those."""
    chosen, scored = "", ""
    if parcel_ids is not None:
        chosen = " AND parcel_id = ANY(CAST(:ids AS uuid[]))"
        scored = " AND s.parcel_id = ANY(CAST(:ids AS uuid[]))"
    params = {"p": profile.id} | ({} if parcel_ids is None else {"ids": [str(i) for i in parcel_ids]})
    conn.execute(text(f"DELETE FROM approved_score WHERE profile_id = :p{chosen}"), params)
    if parcel_ids is not None and not parcel_ids:
        return
    frame = load(conn, profile, parcel_ids, part="approved")
    if len(frame):
        _store_approved(conn, evaluate(profile, frame, layers, *references))
    # a version's score is in one table: not also as the latest one's (a retirement, an unscored import)
    conn.execute(
        text(f"""DELETE FROM parcel_score s USING parcel_pending pp
                  WHERE s.profile_id = :p AND pp.parcel_id = s.parcel_id AND pp.approved_version = s.parcel_version
                        {scored}"""),
        params,
    )


def _store_approved(conn: Connection, evaluation: Evaluation) -> None:
    """Store approved versions' scores for the versions that are still the approved ones: a full
    run reads them in its own transaction, and meanwhile a change may have started to wait (and
    had its approved version scored) or been approved (its rows gone)."""
    conn.execute(
        text("""
        DROP TABLE IF EXISTS pg_temp.approved_staged;
        CREATE TEMP TABLE approved_staged (LIKE approved_score INCLUDING DEFAULTS) ON COMMIT DROP;
    """)
    )
    _store(conn, evaluation, "approved_staged")
    changed = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*_SCORE_COLUMNS.split(", ")[2:], "computed_at"))
    conn.execute(
        text(f"""
        INSERT INTO approved_score ({_SCORE_COLUMNS}, computed_at)
        SELECT {_SCORE_COLUMNS}, computed_at FROM approved_staged n
         WHERE EXISTS (SELECT FROM parcel_pending pp WHERE pp.parcel_id = n.parcel_id
                          AND pp.approved_version = n.parcel_version)
        ON CONFLICT (profile_id, parcel_id) DO UPDATE SET {changed}
    """)
    )


def rescore_approved(conn: Connection, parcel_ids: Sequence | None = None) -> int:
    """Recompute the indicators and scores of the approved versions of these pending parcels (None:
    all), in the caller's transaction: when a change starts to wait for review (the version others
    see is no longer the latest) and after a change of the context layers."""
    ids = approved.pending_ids(conn, parcel_ids)
    if not ids:  # e.g. new parcels: nothing approved to see
        return 0
    indicators.hold_context(conn)
    layers = indicators.loaded_layers(conn)
    approved.store_indicators(conn, ids, layers)
    for profile in current_profiles(conn):
        references = _last_reference(conn, profile) if profile.method == "topsis" else (None, None)
        _score_approved(conn, profile, layers, references, ids)
    return len(ids)


def without_public_coverage(conn: Connection) -> list:
    """Current parcels with a score stored before 0040, which has no coverage of its public variant:
    until scored again, a ranking shows callers of public scores none (the demo's seed and
    ``landreg score --missing`` score them)."""
    return (
        conn.execute(
            text("""SELECT DISTINCT s.parcel_id FROM parcel_score s JOIN parcel p ON p.id = s.parcel_id
                     WHERE s.public_coverage IS NULL AND p.retired_at IS NULL""")
        )
        .scalars()
        .all()
    )


def rescore_stale(conn: Connection, chunk: int = 50_000) -> int:
    """Re-score every current parcel whose score is missing or older than the parcel or the context
    layers, or lacks the public variant's coverage (stored since 0040), and the approved versions
    others see of pending parcels whose scores are so."""
    ids = sorted(set(indicators.stale_parcel_ids(conn)) | set(without_public_coverage(conn)))
    for start in range(0, len(ids), chunk):
        rescore(conn, ids[start : start + chunk])
    stale = approved.stale_ids(conn, current_profiles(conn))
    if stale:
        rescore_approved(conn, stale)
    return len(ids)
