"""What a changed profile would do to the ranking, before it is saved: the profile editor's preview.

:func:`preview` ranks the parcels under the current version of a profile and under a changed
definition (other weights, other value-function parameters) and reports the top N of both, each
parcel's change of rank and how many parcels move more than :data:`MOVED_PLACES` places. It reads
only, and it reads the stored indicators, not the context layers: no rescoring.

It agrees exactly with what the engine computes once the changed profile is saved
(:func:`landreg.scoring.engine.save_scored_profile`) and ranked (:func:`landreg.scoring.explain.ranking`):

* the raw values are those :func:`~landreg.scoring.engine.load` reads (every current parcel, the
  stored indicators of its current version); indicators that are missing or older than the parcel
  or the context layers are computed in the query, as the engine would compute them before scoring
  (when more than :data:`STALE_EXACT_MAX` are stale, their stored values are used and the preview
  says it is approximate);
* the normalised values, the aggregation (:mod:`~landreg.scoring.methods`) and the exclusions are
  the engine's (:func:`~landreg.scoring.engine.evaluate`), computed column-wise: a table value
  function is looked up once per distinct code instead of once per parcel;
* scores are rounded as they are stored (6 decimals) and ranked as ``ranking`` ranks them: ties
  share a rank (``rank()``), ties in the top N are listed by local reference in the database's
  collation, and parcels the view sees in another version than the scored one (a change waiting
  for review) are left out.

The raw values of every current parcel are read once (seconds for a million) and kept in memory,
column-wise, for the next previews, which then only compute (a tenth of a second for a million).
Kept values are used only as exactly as the database has them:

* as they were while the database's snapshot (``pg_current_snapshot()``: which transactions have
  committed) is the one they were read in;
* else brought up to date: the parcels whose rows or stored indicators were written by a
  transaction that snapshot did not see (found by their rows' ``xmin``) are read again (edits,
  new and retired parcels; a write elsewhere, e.g. a sign-in, finds none). Read again in whole when
  the context layers changed, more than :data:`REFRESH_MAX` parcels were written, or rows are gone;
* never by a transaction that has written something itself (its own changes are not committed).

Exactness holds to the last bit of a float, below the 6 decimals scores are stored with: the raw
values are read as a full run reads them (``load`` with COPY; saving reads a profile's parcels row
by row, which can differ in a value's last bit); the weights are those the saved definition would
have (``jsonb`` orders the criteria, and so the terms of the weighted sum); TOPSIS's column norms
sum over the parcels in the order they were read.

The editor's form is defined here too (:func:`editor_fields`, :func:`definition_from_form`): which
fields a profile has, their bounds, and the messages that name the field at fault.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select, text

from landreg.access import FULL, PENDING, View, visible_rows
from landreg.errors import InvalidParameter
from landreg.models import Parcel
from landreg.scoring import indicators
from landreg.scoring.criteria import ABSTAND_CLASSES, CATALOGUE, EXCLUSIONS, CriterionError, ValueFunction, normalise
from landreg.scoring.criteria import _code as table_code
from landreg.scoring.engine import load
from landreg.scoring.methods import TopsisReference, topsis, weighted_sum
from landreg.scoring.profiles import Profile, ProfileError, validate_definition

#: A parcel "moves" when its rank changes by more than this many places.
MOVED_PLACES = 10
TOP_DEFAULT, TOP_MAX = 20, 100
#: Up to this many parcels with stale indicators are computed in the query; more are read as stored.
STALE_EXACT_MAX = 5_000
#: Scores are stored with this many decimals (:func:`landreg.scoring.engine._store`), ranks follow them.
SCORE_DECIMALS = 6
#: Parcels tied at the end of the top N whose order the database decides (by local reference).
TIE_CANDIDATES_MAX = 100_000

# The editor's fields: weights in percent points, value-function parameters in the criterion's unit.
WEIGHT_MAX, WEIGHT_DECIMALS = 100.0, 2
BOUND_MAX, BOUND_DECIMALS = 1_000_000.0, 3  # linear worst/best, step bounds (metres, hectares, index)
VALUE_DECIMALS = 3  # table and step values, 0 to 1
TITLE_MAX, PURPOSE_MAX = 200, 1000
_NUMBER = re.compile(r"[+-]?\d{1,12}(?:[.,]\d{1,12})?", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# --- the editor's form -------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberField:
    """One number of the editor's form: its name (which messages name), the value shown, its bounds."""

    name: str
    part: str  # weight, worst, best, value (of a table code), bound, step (value of a step), above
    value: str
    minimum: float
    maximum: float
    decimals: int
    code: str | None = None  # the table code, or the step's index

    @property
    def step(self) -> str:
        return "1" if self.decimals == 0 else f"0.{'0' * (self.decimals - 1)}1"


def _shown(value: float, decimals: int) -> str:
    """A number as the form shows it: rounded to the field's decimals, without trailing zeros."""
    text_ = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text_ in ("-0", "") else text_


def _function_fields(key: str, spec: dict) -> list[NumberField]:
    prefix = f"fn.{key}"
    if spec["type"] == "linear":
        return [
            NumberField(f"{prefix}.{part}", part, _shown(spec[part], BOUND_DECIMALS), -BOUND_MAX, BOUND_MAX,
                        BOUND_DECIMALS)
            for part in ("worst", "best")
        ]  # fmt: skip
    if spec["type"] == "table":
        return [
            NumberField(f"{prefix}.value.{code}", "value", _shown(v, VALUE_DECIMALS), 0.0, 1.0, VALUE_DECIMALS, code)
            for code, v in spec["values"].items()
        ]
    fields_ = []
    for i, (bound, value) in enumerate(spec["steps"]):
        fields_.append(NumberField(f"{prefix}.bound.{i}", "bound", _shown(bound, BOUND_DECIMALS), -BOUND_MAX,
                                   BOUND_MAX, BOUND_DECIMALS, str(i)))  # fmt: skip
        fields_.append(NumberField(f"{prefix}.step.{i}", "step", _shown(value, VALUE_DECIMALS), 0.0, 1.0,
                                   VALUE_DECIMALS, str(i)))  # fmt: skip
    fields_.append(NumberField(f"{prefix}.above", "above", _shown(spec["above"], VALUE_DECIMALS), 0.0, 1.0,
                               VALUE_DECIMALS))  # fmt: skip
    return fields_


@dataclass(frozen=True)
class CriterionFields:
    key: str
    in_profile: bool
    function_type: str
    weight: NumberField
    function: list[NumberField]


def editor_fields(profile: Profile) -> list[CriterionFields]:
    """The editor's fields of a profile: every criterion of the catalogue (the profile's first, in
    its order; the others with weight 0, added to the profile when given a weight), its weight in
    percent and the parameters of its value function."""
    keys = [k for k in CATALOGUE if k in profile.weights] + [k for k in CATALOGUE if k not in profile.weights]
    out = []
    for key in keys:
        spec = profile.functions.get(key) or ValueFunction.check(CATALOGUE[key].function, key)
        weight = NumberField(f"weight.{key}", "weight", _shown(100 * profile.weights.get(key, 0.0), WEIGHT_DECIMALS),
                             0.0, WEIGHT_MAX, WEIGHT_DECIMALS)  # fmt: skip
        out.append(CriterionFields(key, key in profile.weights, spec["type"], weight, _function_fields(key, spec)))
    return out


def _given(f: NumberField, form: Mapping[str, str]) -> float | None:
    """The number the form gives for a field, checked against its bounds and decimals; None where
    the form leaves the field out or shows it as it was shown (the stored value, unrounded, stays)."""
    raw = form.get(f.name)
    if raw is None:
        return None
    raw = str(raw).strip()
    if raw == f.value:
        return None
    if len(raw) > 40 or not _NUMBER.fullmatch(raw):
        raise InvalidParameter(f"{f.name}: a number is needed (e.g. {f.value}), not {raw[:40]!r}", f.name)
    digits = raw.replace(",", ".")
    decimals = len(digits.partition(".")[2])
    if decimals > f.decimals:
        raise InvalidParameter(f"{f.name}: at most {f.decimals} decimal places, not {decimals}", f.name)
    value = float(digits) + 0.0  # -0 is 0
    if not f.minimum <= value <= f.maximum:
        raise InvalidParameter(
            f"{f.name}: between {_shown(f.minimum, 0)} and {_shown(f.maximum, 0)}, not {raw}", f.name
        )
    return value


def _number(f: NumberField, form: Mapping[str, str], current: float) -> float:
    given = _given(f, form)
    return current if given is None else given


def _function_from_form(key: str, spec: dict, fields_: list[NumberField], form: Mapping[str, str]) -> dict:
    by_part = {(f.part, f.code): f for f in fields_}
    if spec["type"] == "linear":
        function = {"type": "linear", **{p: _number(by_part[(p, None)], form, spec[p]) for p in ("worst", "best")}}
        field_name = by_part[("best", None)].name
    elif spec["type"] == "table":
        values = {code: _number(by_part[("value", code)], form, v) for code, v in spec["values"].items()}
        function, field_name = {"type": "table", "values": values}, fields_[0].name
    else:
        steps = [
            [_number(by_part[("bound", str(i))], form, b), _number(by_part[("step", str(i))], form, v)]
            for i, (b, v) in enumerate(spec["steps"])
        ]
        above = _number(by_part[("above", None)], form, spec["above"])
        function, field_name = {"type": "steps", "steps": steps, "above": above}, fields_[0].name
    try:
        return ValueFunction.check(function, f"criterion {key}")
    except CriterionError as exc:
        raise InvalidParameter(f"{field_name}: {exc}", field_name) from None


def _text(form: Mapping[str, str], name: str, current: str, limit: int) -> str:
    value = form.get(name)
    if value is None:
        return current
    value = str(value).strip()
    if value == current.strip():
        return current
    if not value:
        raise InvalidParameter(f"{name}: must not be empty", name)
    if _CONTROL.search(value):
        raise InvalidParameter(f"{name}: control characters are not allowed", name)
    if len(value) > limit:
        raise InvalidParameter(f"{name}: at most {limit} characters, not {len(value)}", name)
    return value


@dataclass(frozen=True)
class Draft:
    """A changed profile as the editor's form describes it, checked by the core's rules."""

    title: str
    purpose: str
    definition: dict  # as it would be stored (weights normalised)
    profile: Profile  # the current version with the changed definition (same id, name and version)
    notes: list[str]


def definition_from_form(profile: Profile, form: Mapping[str, str]) -> Draft:
    """The profile the editor's form describes: InvalidParameter names the first field at fault.

    The method, categories, exclusions and Abstandserlass class stay as they are. A criterion that
    is not part of the profile joins it when given a weight above 0."""
    criteria = {}
    for c in editor_fields(profile):
        given = _given(c.weight, form)  # percent points; an untouched weight stays as stored
        weight = profile.weights.get(c.key, 0.0) if given is None else given / 100
        if not c.in_profile and weight == 0:
            continue
        spec = profile.functions.get(c.key) or ValueFunction.check(CATALOGUE[c.key].function, c.key)
        criteria[c.key] = {"weight": weight, "function": _function_from_form(c.key, spec, c.function, form)}
    if sum(c["weight"] for c in criteria.values()) <= 0:
        first = editor_fields(profile)[0].key
        raise InvalidParameter(
            f"weight.{first}: the weights add up to 0; give at least one criterion a weight above 0", f"weight.{first}"
        )
    definition = {
        "method": profile.method,
        "categories": list(profile.categories),
        "criteria": criteria,
        "exclusions": list(profile.exclusions),
        "abstand_class": profile.abstand_class,
    }
    try:
        stored, notes = validate_definition(definition)
    except ProfileError as exc:  # the fields are checked above; what is left concerns the profile as a whole
        raise InvalidParameter(str(exc), "definition") from None
    title = _text(form, "title", profile.title, TITLE_MAX)
    purpose = _text(form, "purpose", profile.purpose, PURPOSE_MAX)
    return Draft(title, purpose, stored, changed_profile(profile, stored), notes)


def changed_profile(profile: Profile, stored: dict) -> Profile:
    """``profile`` with another (validated, stored-form) definition."""
    return dataclasses.replace(
        profile,
        method=stored["method"],
        categories=tuple(stored["categories"]),
        weights={k: v["weight"] for k, v in stored["criteria"].items()},
        functions={k: v["function"] for k, v in stored["criteria"].items()},
        exclusions=tuple(stored["exclusions"]),
        abstand_class=stored["abstand_class"],
    )


def as_stored(conn: Connection, profile: Profile) -> Profile:
    """The profile as the database would give it back once saved: its definition through ``jsonb``
    (which orders the criteria its own way, and so the order in which the engine adds them up)."""
    definition = {
        "method": profile.method,
        "categories": list(profile.categories),
        "criteria": {k: {"weight": w, "function": profile.functions[k]} for k, w in profile.weights.items()},
        "exclusions": list(profile.exclusions),
        "abstand_class": profile.abstand_class,
    }
    stored = conn.execute(text("SELECT CAST(:d AS jsonb)"), {"d": json.dumps(definition)}).scalar_one()
    return changed_profile(profile, stored)


def whole_number(raw: str | None, name: str, lowest: int, highest: int, default: int) -> int:
    """A whole number given as text (a form field or query parameter), within bounds."""
    raw = str(default) if raw is None else str(raw).strip()
    if not re.fullmatch(r"\d{1,9}", raw, re.ASCII) or not lowest <= int(raw) <= highest:
        raise InvalidParameter(f"{name}: a whole number from {lowest} to {highest}, not {raw[:20]!r}", name)
    return int(raw)


# --- the raw values, column-wise, and the cache --------------------------------------------------


@dataclass
class Register:
    """The raw values of every current parcel as :func:`~landreg.scoring.engine.load` reads them,
    column by column: numbers as floats, codes as integer codes into their distinct values."""

    ids: pd.Index  # parcel ids (text), row order of the columns
    alive: np.ndarray  # False: retired since it was read
    category: tuple[np.ndarray, list]
    numbers: dict[str, np.ndarray]
    codes: dict[str, tuple[np.ndarray, list]]
    flags: dict[str, np.ndarray]
    layers: frozenset[str]
    approximate: int  # parcels whose stale indicators were read as stored
    context_changed_at: str  # when the context layers last changed, as read
    files: str  # the tables' files, as read (see _files)
    snapshot: str = ""  # the database snapshot the values are those of (pg_current_snapshot())
    read_s: float = 0.0
    refreshed: int | None = None  # parcels read again to bring kept values up to date (None: all read)
    rankings: dict = field(default_factory=dict)  # (profile definition, view) -> ranks, kept with the register


_LOCK = threading.Lock()
#: database -> the latest register read from it (one per database).
_CACHE: dict[tuple, Register] = {}
_CACHE_DATABASES = 2
#: Kept values are brought up to date by reading the parcels changed since, up to this many; more: all again.
REFRESH_MAX = 20_000
#: Transaction ids: 32 bits in rows, wrapping around; ages up to 2^31 are meaningful.
_XID_WINDOW, _XID_SPACE = 2**31, 2**32


def _state(conn: Connection) -> tuple[tuple, str, bool]:
    row = conn.execute(
        text("""
        SELECT current_database() AS db, pg_postmaster_start_time()::text AS started,
               pg_current_snapshot()::text AS snapshot, pg_current_xact_id_if_assigned() IS NULL AS clean
    """)
    ).one()
    database = (conn.engine.url.render_as_string(hide_password=True), row.db, row.started)
    return database, row.snapshot, row.clean


def _is_table(key: str) -> bool:
    return CATALOGUE[key].function["type"] == "table"


def _columns() -> tuple[set[str], set[str], set[str]]:
    """Columns kept as codes (table criteria, code exclusions), as numbers, and as flags."""
    coded = {CATALOGUE[k].column for k in CATALOGUE if _is_table(k)} | {"category"}
    coded |= {e.source_field for e in EXCLUSIONS.values() if e.source_field}
    numbers = {CATALOGUE[k].column for k in CATALOGUE if not _is_table(k)}
    flags = {e.column for e in EXCLUSIONS.values() if e.column}
    return coded, numbers, flags


def _context_changed_at(conn: Connection) -> str:
    return str(conn.execute(text("SELECT changed_at FROM context_state")).scalar())


def _frame(conn: Connection, layers: set[str], parcel_ids: list[str] | None = None) -> tuple[pd.DataFrame, int]:
    """``load``'s raw values of every current parcel (or of ``parcel_ids``), parcel ids as text, with
    stale indicators computed in the query as the engine would compute them before scoring; and how
    many stale ones were read as stored instead (more than STALE_EXACT_MAX)."""
    uuids = None if parcel_ids is None else [uuid.UUID(i) for i in parcel_ids]
    frame = load(conn, None, uuids)
    frame["parcel_id"] = frame["parcel_id"].astype(str)
    stale = indicators.stale_parcel_ids(conn, uuids)
    if not stale:
        return frame, 0
    if len(stale) > STALE_EXACT_MAX:
        return frame, len(stale)
    fresh = load(conn, None, stale, computing_with=layers)
    at = pd.Index(frame["parcel_id"]).get_indexer(fresh["parcel_id"].astype(str))
    for column in indicators.COLUMNS:
        values = np.array(frame[column].astype(object).to_numpy(), copy=True)
        values[at] = fresh[column].to_numpy(dtype=object)
        frame[column] = values
    return frame, 0


def _read(conn: Connection, snapshot: str) -> Register:
    started = time.perf_counter()
    layers = indicators.loaded_layers(conn)
    changed_at, files = _context_changed_at(conn), _files(conn)
    frame, approximate = _frame(conn, layers)
    coded, numbers, flags = _columns()
    register = Register(
        pd.Index(frame["parcel_id"].to_numpy(dtype=object)),
        np.ones(len(frame), dtype=bool),
        _factorize(frame["category"]),
        {c: frame[c].to_numpy(dtype=float) for c in numbers},
        {c: _factorize(frame[c]) for c in coded - {"category"}},
        {c: frame[c].fillna(False).to_numpy(dtype=bool) for c in flags},
        frozenset(layers),
        approximate,
        changed_at,
        files,
        snapshot,
    )
    register.read_s = time.perf_counter() - started
    return register


def _factorize(series: pd.Series) -> tuple[np.ndarray, list]:
    codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
    return codes.astype(np.int32), list(uniques)


def _encode(values, uniques: list) -> np.ndarray:
    """Codes of a few values into ``uniques`` (extended by values not seen before; -1: no value)."""
    index = {u: i for i, u in enumerate(uniques)}
    out = np.full(len(values), -1, dtype=np.int32)
    for k, value in enumerate(values):
        if value is None or pd.isna(value):
            continue
        if value not in index:
            index[value] = len(uniques)
            uniques.append(value)
        out[k] = index[value]
    return out


def _files(conn: Connection) -> str:
    """The files of the parcel and indicator tables: TRUNCATE (the only way rows go: parcels are
    retired, never deleted) gives a table a new one."""
    return str(
        conn.execute(text("SELECT pg_relation_filenode('parcel'), pg_relation_filenode('parcel_indicator')")).one()
    )


def _changed_since(conn: Connection, snapshot: str) -> list[str] | None:
    """Parcels whose row or stored indicators may have been written by a transaction the old
    ``snapshot`` did not see; None: too many to read again.

    A row's ``xmin`` names the transaction that wrote it; every transaction the old snapshot did not
    see (in progress then, or begun since, with their subtransactions) has an id from the snapshot's
    ``xmin`` on, so a row is taken as written since when its ``age(xmin)`` (transactions since, in
    32-bit arithmetic; a frozen row has the largest age) is at most that ``xmin``'s. A few rows
    written just before may be read again needlessly; none written since is missed."""
    since = str(int(snapshot.split(":", 1)[0]) % _XID_SPACE)
    age = conn.execute(text("SELECT age(CAST(:since AS xid))"), {"since": since}).scalar()
    if not 0 <= age < _XID_WINDOW // 2:  # so old that 32-bit ids could wrap: read all again
        return None
    found: set[str] = set()
    for table, key in (("parcel", "id"), ("parcel_indicator", "parcel_id")):
        row = conn.execute(
            text(f"""
            SELECT count(*) AS n, (array_agg({key}::text))[1:{REFRESH_MAX + 1}] AS ids
              FROM {table} WHERE age(xmin) <= age(CAST(:since AS xid))
        """),
            {"since": since},
        ).one()
        if row.n > REFRESH_MAX:
            return None
        found |= set(row.ids or [])
    return sorted(found) if len(found) <= REFRESH_MAX else None


def _refresh(conn: Connection, kept: Register, snapshot: str) -> Register | None:
    """The kept register brought up to date by reading again the parcels written since its snapshot;
    None where that is not possible (context layers changed, stale indicators read as stored, too
    many changes, a table truncated)."""
    if kept.approximate or (_context_changed_at(conn), _files(conn)) != (kept.context_changed_at, kept.files):
        return None
    changed = _changed_since(conn, kept.snapshot)
    if changed is None:
        return None
    started = time.perf_counter()
    frame, approximate = _frame(conn, set(kept.layers), changed) if changed else (None, 0)
    if approximate:
        return None
    reg = dataclasses.replace(kept, snapshot=snapshot, refreshed=len(changed), rankings={})
    if changed:
        reg = _patched(reg, changed, frame)
    reg.read_s = time.perf_counter() - started
    return reg


def _patched(reg: Register, changed: list[str], frame: pd.DataFrame) -> Register:
    """A copy of ``reg`` with the rows of ``changed`` as ``frame`` has them: updated, added, or no
    longer current (retired: a changed parcel ``frame`` lacks)."""
    ids = frame["parcel_id"].to_numpy(dtype=object)
    at = reg.ids.get_indexer(ids)
    new = at < 0
    n_old, n_new = len(reg.ids), int(new.sum())
    at[new] = np.arange(n_old, n_old + n_new)

    def grown(values: np.ndarray, fill) -> np.ndarray:
        if not n_new:
            return values.copy()
        return np.concatenate([values, np.full(n_new, fill, dtype=values.dtype)])

    alive = grown(reg.alive, False)
    gone = reg.ids.get_indexer(changed)
    alive[gone[gone >= 0]] = False
    alive[at] = True

    def coded(pair: tuple[np.ndarray, list], column: str) -> tuple[np.ndarray, list]:
        codes, uniques = grown(pair[0], -1), list(pair[1])
        codes[at] = _encode(frame[column].to_numpy(dtype=object), uniques)
        return codes, uniques

    numbers = {}
    for column, values in reg.numbers.items():
        numbers[column] = grown(values, np.nan)
        numbers[column][at] = frame[column].to_numpy(dtype=float)
    flags = {}
    for column, values in reg.flags.items():
        flags[column] = grown(values, False)
        flags[column][at] = [v is True or v == True for v in frame[column].to_numpy(dtype=object)]  # noqa: E712
    return dataclasses.replace(
        reg,
        ids=reg.ids.append(pd.Index(ids[new], dtype=object)) if n_new else reg.ids,
        alive=alive,
        category=coded(reg.category, "category"),
        numbers=numbers,
        codes={column: coded(pair, column) for column, pair in reg.codes.items()},
        flags=flags,
    )


def register(conn: Connection) -> tuple[Register, bool]:
    """The raw values as ``conn`` sees them, and whether they came from the kept ones (as they were,
    or brought up to date: ``refreshed``)."""
    database, snapshot, clean = _state(conn)
    if clean:
        with _LOCK:
            kept = _CACHE.get(database)
        if kept is not None:
            if kept.snapshot == snapshot:
                return kept, True
            refreshed = _refresh(conn, kept, snapshot)
            if refreshed is not None:
                _keep(database, refreshed)
                return refreshed, True
    read = _read(conn, snapshot)
    if clean:
        _keep(database, read)
    return read, False


def _keep(database: tuple, reg: Register) -> None:
    with _LOCK:
        _CACHE.pop(database, None)
        while len(_CACHE) >= _CACHE_DATABASES:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[database] = reg


def forget() -> None:
    """Drop the kept raw values (tests, benchmarks)."""
    with _LOCK:
        _CACHE.clear()


# --- scores and ranks ------------------------------------------------------------------------------


def _rows(profile: Profile, reg: Register) -> np.ndarray:
    """Indices of the parcels a profile ranks (its categories), in register order."""
    codes, uniques = reg.category
    if not profile.categories:
        return np.flatnonzero(reg.alive)
    wanted = [i for i, c in enumerate(uniques) if c in profile.categories]
    return np.flatnonzero(np.isin(codes, wanted) & reg.alive)


def _lookup(spec: dict, codes: np.ndarray, uniques: list) -> np.ndarray:
    """A table value function applied to coded values: once per distinct value, as
    :func:`~landreg.scoring.criteria.normalise` does per value."""
    table = spec["values"]
    values = np.array([table.get(table_code(u), np.nan) for u in uniques] + [np.nan], dtype=float)
    return values[codes]  # the code -1 (no value) picks the NaN at the end


def _normalised(profile: Profile, key: str, reg: Register, rows: np.ndarray) -> np.ndarray:
    spec, column = profile.functions[key], CATALOGUE[key].column
    if column in reg.codes:
        codes, uniques = reg.codes[column]
        if spec["type"] != "table":
            raise InvalidParameter(f"criterion {key}: its values are codes; its value function must be a table", key)
        return _lookup(spec, codes[rows], uniques)
    raw = reg.numbers[column][rows]
    if key == "abstand":  # as engine._raw: the margin over the targeted class's distance
        raw = raw - ABSTAND_CLASSES[profile.abstand_class]
    if spec["type"] == "table":
        codes, uniques = pd.factorize(pd.Series(raw), use_na_sentinel=True)
        return _lookup(spec, codes, list(uniques))
    return normalise(spec, raw)


def _matrix(profile: Profile, reg: Register, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The normalised values of ``rows`` (parcels × the profile's criteria) and the weights."""
    criteria = list(profile.weights)
    weights = np.array([profile.weights[c] for c in criteria])
    unavailable = {c for c in criteria if CATALOGUE[c].layer and CATALOGUE[c].layer not in reg.layers}
    normalised = (
        np.column_stack(
            [np.full(len(rows), np.nan) if c in unavailable else _normalised(profile, c, reg, rows) for c in criteria]
        )
        if len(rows)
        else np.empty((0, len(criteria)))
    )
    return normalised, weights


def scores(profile: Profile, reg: Register, scored: Register | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rows (register indices) a profile ranks and their scores, as
    :func:`~landreg.scoring.engine.evaluate` computes them (NaN: excluded or nothing to score).

    ``scored``: the register of every current parcel, where ``reg`` holds some parcels in another
    version (:func:`_as_seen`): TOPSIS measures against the ideals of the current parcels, as the
    engine scores an approved version against its run's."""
    rows = _rows(profile, reg)
    normalised, weights = _matrix(profile, reg, rows)
    if profile.method == "topsis":
        reference = None
        if scored is not None and scored is not reg:
            reference = TopsisReference.of(_matrix(profile, scored, _rows(profile, scored))[0], weights)
        result = topsis(normalised, weights, reference)
    else:
        result = weighted_sum(normalised, weights)
    excluded = np.zeros(len(rows), dtype=bool)
    for name in profile.exclusions:
        exclusion = EXCLUSIONS[name]
        if exclusion.source_field:  # owner_objection: read from its field, as the engine does
            codes, uniques = reg.codes[exclusion.source_field]
            hit = np.isin(codes[rows], [i for i, u in enumerate(uniques) if u == "nein"])
        elif exclusion.layer not in reg.layers:
            continue
        else:
            hit = reg.flags[exclusion.column][rows]
        excluded |= hit
    return rows, np.where(excluded, np.nan, result)


def _seen_otherwise(conn: Connection, view: View) -> list[str]:
    """Parcels ``view`` sees in another version than their current one, or not at all (changes
    waiting for review). For views that see every parcel, only parcels waiting for review can be such."""
    if view.kind != "full":
        raise InvalidParameter("the preview ranks every parcel: it is for those who see all of them", "view")
    rows = visible_rows(view)
    current = select(rows.c.id).where(rows.c.id == Parcel.id, rows.c.version == Parcel.version)
    query = (
        select(PENDING.c.parcel_id)
        .join(Parcel, Parcel.id == PENDING.c.parcel_id)  # a retirement waiting: seen as it was, unretired
        .where(~current.exists() | Parcel.retired_at.is_not(None))
    )
    return sorted(str(i) for i in conn.execute(query).scalars())


def _as_seen(conn: Connection, reg: Register, otherwise: list[str]) -> tuple[Register, frozenset[str]]:
    """The register as the view sees it: the parcels it sees ``otherwise`` with the raw values of
    their approved version (with its stored indicators, as the engine scores it:
    :mod:`landreg.scoring.approved`), or left out where it sees none; and the ids of those shown
    in their approved version."""
    if not otherwise:
        return reg, frozenset()
    frame = load(conn, None, [uuid.UUID(i) for i in otherwise], part="approved")
    frame["parcel_id"] = frame["parcel_id"].astype(str)
    return _patched(reg, otherwise, frame), frozenset(frame["parcel_id"])


@dataclass
class Ranks:
    """Competition ranks (``rank()``: ties share one) of the parcels a view's ranking shows."""

    rows: np.ndarray  # register indices of the ranked parcels
    scores: np.ndarray  # as stored (rounded)
    ranks: np.ndarray


def _ranks(rows: np.ndarray, raw_scores: np.ndarray) -> Ranks:
    rounded = np.round(raw_scores, SCORE_DECIMALS)
    shown = ~np.isnan(rounded)
    rows, rounded = rows[shown], rounded[shown]
    descending = np.sort(-rounded)
    return Ranks(rows, rounded, np.searchsorted(descending, -rounded, side="left") + 1)


def _ranking(profile: Profile, seen: Register, reg: Register, seen_key: tuple, remember: bool) -> Ranks:
    """The ranking of the register as the view sees it (``seen``, :func:`_as_seen`), kept with the
    register of current parcels ``reg`` under ``seen_key`` (which parcels it sees otherwise)."""
    key = (profile.id, profile.method, tuple(profile.categories), repr(profile.weights), repr(profile.functions),
           profile.exclusions, profile.abstand_class, seen_key)  # fmt: skip
    if key in reg.rankings:
        return reg.rankings[key]
    rows, raw = scores(profile, seen, reg)
    ranks = _ranks(rows, raw)
    if remember:
        reg.rankings.clear()  # the current version's ranking, for the next preview of the profile
        reg.rankings[key] = ranks
    return ranks


# --- the preview -----------------------------------------------------------------------------------


@dataclass
class Row:
    parcel_id: str
    rank: int
    score: float
    local_ref: str
    name: str | None
    ags: str
    municipality: str | None
    category: str
    area_ha: float
    other_rank: int | None  # the rank in the other ranking (None: not ranked there)

    @property
    def change(self) -> int | None:
        """Places moved up from the other ranking to this one (negative: down; None: not ranked there)."""
        return None if self.other_rank is None else self.other_rank - self.rank


@dataclass
class Preview:
    profile: Profile  # the changed profile
    notes: list[str]
    before: list[Row]  # top N under the current version
    after: list[Row]  # top N under the changed profile
    moved: int  # parcels ranked in both whose rank changed by more than MOVED_PLACES
    changed: int  # parcels ranked in both whose rank changed at all
    entered: int  # ranked only under the changed profile
    left: int  # ranked only under the current version
    ranked_before: int
    ranked_after: int
    approximate: int  # parcels whose stale indicators were read as stored (0: exact)
    unavailable: list[str]  # criteria whose context layer holds no features
    cached: bool  # from the kept raw values (as they were, or brought up to date)
    refreshed: int | None  # parcels read again to bring the kept values up to date (None: not kept ones)
    seconds: float
    #: every ranked parcel: id -> (rank before or None, rank after or None)
    ranks: Mapping[str, tuple[int | None, int | None]] = field(repr=False, default_factory=dict)


def _top(
    conn: Connection, reg: Register, ranks: Ranks, other: _Lookup, n: int, approved: frozenset[str] = frozenset()
) -> list[Row]:
    """The first ``n`` parcels of a ranking as ``ranking`` lists them (by rank, then local reference),
    with the facts of the version the view sees (``approved``: the approved one of these)."""
    if not len(ranks.rows) or n <= 0:
        return []
    last = np.partition(ranks.ranks, min(n, len(ranks.ranks)) - 1)[min(n, len(ranks.ranks)) - 1]
    candidates = np.flatnonzero(ranks.ranks <= last)
    if len(candidates) > TIE_CANDIDATES_MAX:  # a mass tie: the database orders the first of them only
        candidates = candidates[np.argsort(ranks.ranks[candidates], kind="stable")[:TIE_CANDIDATES_MAX]]
    at = {reg.ids[ranks.rows[i]]: i for i in candidates}
    found = conn.execute(
        text("""
        SELECT t.id::text AS id, t.rank, p.local_ref, p.name, p.ags, m.name AS municipality, p.category,
               p.area_m2 / 10000.0 AS area_ha
          FROM unnest(CAST(:ids AS uuid[]), CAST(:ranks AS bigint[])) AS t(id, rank)
          JOIN parcel c ON c.id = t.id
          LEFT JOIN parcel_pending pp ON pp.parcel_id = t.id AND t.id = ANY(CAST(:approved AS uuid[]))
          LEFT JOIN parcel_past_version v ON v.parcel_id = pp.parcel_id AND v.version = pp.approved_version
          CROSS JOIN LATERAL (SELECT c.local_ref, c.name, c.ags, c.category, c.area_m2 WHERE v.parcel_id IS NULL
                              UNION ALL
                              SELECT v.local_ref, v.name, v.ags, v.category, v.area_m2 WHERE v.parcel_id IS NOT NULL) p
          LEFT JOIN municipality m ON m.ags = p.ags
         ORDER BY t.rank, p.local_ref
         LIMIT :n
    """),
        {"ids": list(at), "ranks": [int(ranks.ranks[i]) for i in at.values()], "n": n, "approved": sorted(approved)},
    ).all()
    rows = []
    for r in found:
        i = at[r.id]
        rows.append(
            Row(r.id, int(r.rank), float(ranks.scores[i]), r.local_ref, r.name, r.ags, r.municipality, r.category,
                float(r.area_ha), other.get(int(ranks.rows[i])))
        )  # fmt: skip
    return rows


def preview(
    conn: Connection, current: Profile, changed: Profile, top: int = TOP_DEFAULT, view: View = FULL, notes=()
) -> Preview:
    """The ranking of ``current`` (a stored version) and of ``changed`` (e.g. ``definition_from_form(...).profile``)
    side by side, as ``view`` sees it (a view that sees every parcel). Reads only."""
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= TOP_MAX:
        raise InvalidParameter(f"top: a whole number from 1 to {TOP_MAX}, not {top!r}", "top")
    started = time.perf_counter()
    changed = as_stored(conn, changed)
    otherwise = _seen_otherwise(conn, view)
    reg, cached = register(conn)
    seen, approved = _as_seen(conn, reg, otherwise)
    seen_key = (view, tuple(otherwise))
    before = _ranking(current, seen, reg, seen_key, remember=True)
    after = _ranking(changed, seen, reg, seen_key, remember=False)
    rank_before = np.zeros(len(seen.ids), dtype=np.int64)
    rank_before[before.rows] = before.ranks
    rank_after = np.zeros(len(seen.ids), dtype=np.int64)
    rank_after[after.rows] = after.ranks
    both = (rank_before > 0) & (rank_after > 0)
    shift = np.abs(rank_before[both] - rank_after[both])
    ranked = np.flatnonzero((rank_before > 0) | (rank_after > 0))
    result = Preview(
        changed,
        list(notes),
        _top(conn, seen, before, _Lookup(rank_after), top, approved),
        _top(conn, seen, after, _Lookup(rank_before), top, approved),
        int((shift > MOVED_PLACES).sum()),
        int((shift > 0).sum()),
        int(((rank_after > 0) & (rank_before == 0)).sum()),
        int(((rank_before > 0) & (rank_after == 0)).sum()),
        len(before.rows),
        len(after.rows),
        reg.approximate,
        [c for c in changed.weights if CATALOGUE[c].layer and CATALOGUE[c].layer not in reg.layers],
        cached,
        reg.refreshed if cached else None,
        0.0,
    )
    result.ranks = _RanksView(seen.ids, ranked, rank_before, rank_after)
    result.seconds = time.perf_counter() - started
    return result


class _Lookup:
    """Ranks by register index, read from an array (0: not ranked)."""

    def __init__(self, ranks: np.ndarray):
        self._ranks = ranks

    def get(self, key: int) -> int | None:
        return int(self._ranks[key]) or None


class _RanksView(Mapping):
    """Every ranked parcel's rank before and after, by parcel id, built only when read."""

    def __init__(self, ids: pd.Index, ranked: np.ndarray, before: np.ndarray, after: np.ndarray):
        self._ids, self._ranked, self._before, self._after = ids, ranked, before, after

    def _pair(self, i: int) -> tuple[int | None, int | None]:
        return (int(self._before[i]) or None, int(self._after[i]) or None)

    def __getitem__(self, parcel_id: str):
        i = self._ids.get_loc(parcel_id)
        if not (self._before[i] or self._after[i]):
            raise KeyError(parcel_id)
        return self._pair(i)

    def __iter__(self):
        return (self._ids[i] for i in self._ranked)

    def __len__(self) -> int:
        return len(self._ranked)
