"""Column mapping: which source column feeds which parcel field, and how its values translate.

Municipal files come with German or English column names from many GIS tools. Columns are
matched automatically by common names; a small YAML file can name them explicitly and add value
maps::

    columns:            # source column -> parcel field
      Flächen-Nr: local_ref
      Art der Fläche: category
    values:             # per field: source value -> registry code
      category:
        Brache: brachflaeche
        GE-Reserve: gewerbeflaeche
    defaults:           # for fields the file lacks
      status: verfuegbar
    ignore:             # columns not to read at all (a wrong AGS column, say)
      - Gemeindeschlüssel

Values are matched after normalising case, umlauts and punctuation, so "Brachfläche",
"BRACHFLAECHE" and "brachflaeche" are the same; the German and English labels of every code
(``landreg.vocab``) are accepted without any map.
"""

from __future__ import annotations

import datetime as dt
import numbers
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from landreg import fields
from landreg.fields import CODE_FIELDS
from landreg.importer.refusals import ImportRefused, listing

#: Fields an import can fill, with the column names recognised automatically (normalised).
FIELD_SYNONYMS: dict[str, tuple[str, ...]] = {
    **{f.name: f.column_names() for f in (*fields.ATTRIBUTES, fields.AGS)},
    # what a file may state besides the parcel's fields: the area it claims, compared with the geometry's
    "declared_area_m2": ("area_m2", "flaeche_m2", "flaeche", "groesse_m2", "groesse", "area", "amtliche_flaeche"),
    "declared_area_ha": ("flaeche_ha", "groesse_ha", "hectares", "area_ha"),
}
FIELDS = tuple(FIELD_SYNONYMS)

_EXTRA_VALUES: dict[str, dict[str, str]] = {
    "category": {
        "brache": "brachflaeche",
        "brownfield": "brachflaeche",
        "bf": "brachflaeche",
        "baulucke": "bauluecke",
        "infill": "bauluecke",
        "bl": "bauluecke",
        "gewerbe": "gewerbeflaeche",
        "ge": "gewerbeflaeche",
        "commercial": "gewerbeflaeche",
        "industrie": "industrieflaeche",
        "gi": "industrieflaeche",
        "industrial": "industrieflaeche",
    },
    "status": {
        "frei": "verfuegbar",
        "available": "verfuegbar",
        "belegt": "genutzt",
        "vermarktet": "genutzt",
        "in_planung": "potenzial",
        "umgewidmet": "andere_nutzung",
        "entfallen": "andere_nutzung",
    },
    "contamination": {
        "keine": "keine_bekannt",
        "nein": "keine_bekannt",
        "none": "keine_bekannt",
        "ja": "verdacht",
        "altlastverdacht": "verdacht",
        "verdachtsflaeche": "verdacht",
        "saniert_teilweise": "untersucht",
    },
    "availability": {
        "sofort": "kurzfristig",
        "kurz": "kurzfristig",
        "mittel": "mittelfristig",
        "lang": "langfristig",
        "nein": "nicht_verfuegbar",
        "none": "nicht_verfuegbar",
    },
    "ownership": {
        "kommune": "oeffentlich",
        "stadt": "oeffentlich",
        "gemeinde": "oeffentlich",
        "land": "oeffentlich",
        "public": "oeffentlich",
        "privat": "privat_einzeln",
        "private": "privat_einzeln",
        "mehrere": "privat_mehrere",
        "zersplittert": "privat_mehrere",
    },
    "owner_willing": {
        "yes": "ja",
        "no": "nein",
        "j": "ja",
        "n": "nein",
        "true": "ja",
        "false": "nein",
        "1": "ja",
        "0": "nein",
        "unknown": "unbekannt",
        "k_a": "unbekannt",
        "ka": "unbekannt",
    },
    "servicing": {
        "ja": "erschlossen",
        "voll": "erschlossen",
        "vollstaendig": "erschlossen",
        "teilerschlossen": "teilweise",
        "partial": "teilweise",
        "nein": "unerschlossen",
        "none": "unerschlossen",
    },
    "planning_status": {
        "bplan": "bplan_rechtskraeftig",
        "b_plan": "bplan_rechtskraeftig",
        "rechtskraeftig": "bplan_rechtskraeftig",
        "aufstellung": "bplan_in_aufstellung",
        "34": "paragraph_34",
        "p34": "paragraph_34",
        "innenbereich": "paragraph_34",
        "ohne": "keine",
        "none": "keine",
    },
    "designation": {
        "gewerbegebiet": "GE",
        "industriegebiet": "GI",
        "mischgebiet": "MI",
        "wohngebiet": "WA",
        "allgemeines_wohngebiet": "WA",
        "gewerbe": "GE",
        "industrie": "GI",
    },
}
_TRUE = {"ja", "j", "yes", "y", "true", "wahr", "1", "x"}
_FALSE = {"nein", "n", "no", "false", "falsch", "0", ""}


def normalise(value: Any) -> str:
    """Case-, umlaut- and punctuation-insensitive form: 'Brachfläche (GE)' -> 'brachflaeche_ge'."""
    text = str(value).strip().casefold()
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(umlaut, plain)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


class MappingError(ImportRefused):
    """The mapping file or the column mapping is unusable; the message says why."""

    def __init__(self, message: str):
        super().__init__(message, field="mapping")


class ValueRejected(ValueError):
    """One value cannot be translated; the message says why."""


def _code_lookup(field_name: str) -> dict[str, str]:
    codes = CODE_FIELDS[field_name]
    lookup: dict[str, str] = {}
    for code, (de, en) in codes.labels.items():
        for alias in (code, de, en):
            lookup[normalise(alias)] = code
    for alias, code in _EXTRA_VALUES.get(field_name, {}).items():
        lookup[normalise(alias)] = code
    return lookup


@dataclass
class Mapping:
    """Source column per field, value maps and defaults: everything that turns a source row into fields."""

    columns: dict[str, str]  # field -> source column
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # field -> normalised source value -> code
    defaults: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # source columns left out

    def __post_init__(self) -> None:
        self._lookups = {f: _code_lookup(f) for f in CODE_FIELDS}
        for f, table in self.values.items():
            self._lookups.setdefault(f, {}).update({normalise(k): v for k, v in table.items()})

    @classmethod
    def build(
        cls, source_columns: list[str], mapping_file: Path | None = None, defaults: dict[str, Any] | None = None
    ) -> Mapping:
        """Explicit mapping from the file first, then automatic matching of the remaining columns."""
        spec = (
            _read_mapping_file(mapping_file)
            if mapping_file
            else {"columns": {}, "values": {}, "defaults": {}, "ignore": []}
        )
        ignored = [str(c) for c in spec["ignore"]]
        for source in ignored:
            if source not in source_columns:
                raise MappingError(
                    f"mapping file: ignore names the column {source!r}, which the file does not have; "
                    f"its columns are: {listing(source_columns, 40)}"
                )
        columns: dict[str, str] = {}
        for source, target in spec["columns"].items():
            if target not in FIELDS:
                raise MappingError(
                    f"mapping file: unknown field {target!r} for column {source!r}; fields are: {', '.join(FIELDS)}"
                )
            if source not in source_columns:
                raise MappingError(
                    f"mapping file: the file has no column {source!r}; its columns are: {listing(source_columns, 40)}"
                )
            if source in ignored:
                raise MappingError(f"mapping file: the column {source!r} is both mapped (to {target}) and ignored")
            columns[target] = source
        taken = set(columns.values()) | set(ignored)
        by_normal = {normalise(c): c for c in source_columns if c not in taken}
        for target, synonyms in FIELD_SYNONYMS.items():
            if target in columns:
                continue
            for synonym in synonyms:
                if synonym in by_normal:
                    columns[target] = by_normal.pop(synonym)
                    break
        values = spec["values"]
        for f, table in values.items():
            if f not in CODE_FIELDS:
                raise MappingError(
                    f"mapping file: value maps are for code fields ({', '.join(CODE_FIELDS)}), not {f!r}"
                )
            if not isinstance(table, dict):
                raise MappingError(f"mapping file: values of {f!r} must map source values to codes (value: code)")
            codes = CODE_FIELDS[f].codes
            for source, code in table.items():
                if code not in codes:
                    raise MappingError(
                        f"mapping file: {source!r} of {f!r} maps to {code!r}, which is not one of its codes "
                        f"({', '.join(codes)})"
                    )
        merged_defaults = dict(spec["defaults"]) | dict(defaults or {})
        for f in merged_defaults:
            if f not in FIELDS:
                raise MappingError(f"unknown field {f!r} in defaults")
        return cls(columns=columns, values=values, defaults=merged_defaults, ignored=ignored)

    def unmapped(self, source_columns: list[str]) -> list[str]:
        """Columns neither mapped nor ignored."""
        used = set(self.columns.values()) | set(self.ignored)
        return [c for c in source_columns if c not in used]

    # -- value translation ---------------------------------------------------------------
    def translate(self, field_name: str, raw: Any) -> Any:
        """The registry value for one source value; None for empty. Raises ValueRejected."""
        if raw is None or (not isinstance(raw, str) and pd.isna(raw)) or (isinstance(raw, str) and not raw.strip()):
            return None
        if field_name in self._lookups:
            code = self._lookups[field_name].get(normalise(raw))
            if code is None:
                allowed = ", ".join(CODE_FIELDS[field_name].codes)
                raise ValueRejected(f"unknown value {raw!r}; allowed: {allowed} (or add a value map)")
            return code
        if field_name in ("declared_area_m2", "declared_area_ha"):
            return parse_number(raw)
        if field_name == "ags":
            return parse_ags(raw)
        declared = fields.field(field_name)
        if declared.python_type is int:
            number = parse_number(raw)
            codes = declared.codes.codes if declared.codes else None
            if not number.is_integer() or (codes is not None and str(int(number)) not in codes):
                raise ValueRejected(f"{raw!r} is not a {declared.label_en.lower()} ({', '.join(codes or ())})")
            return int(number)
        if declared.python_type is bool:
            return parse_bool(raw)
        if declared.python_type is dt.date:
            return parse_date(raw)
        if isinstance(raw, numbers.Real) and float(raw).is_integer():
            return str(int(raw))  # a reference read as 17.0 means "17"
        return str(raw).strip()


def parse_number(raw: Any) -> float:
    """Numbers as written in German or English: '1.234,5', '1234,5', '1,234.5', '1234.5'."""
    if isinstance(raw, numbers.Real):
        return float(raw)
    text = str(raw).strip().replace(" ", "").replace("\u00a0", "")
    if re.fullmatch(r"-?\d{1,3}(\.\d{3})+(,\d+)?", text) or re.fullmatch(r"-?\d+,\d+", text):
        text = text.replace(".", "").replace(",", ".")
    elif re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", text):
        text = text.replace(",", "")
    try:
        return float(text)
    except ValueError:
        raise ValueRejected(f"{raw!r} is not a number") from None


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, numbers.Real) and raw in (0, 1):
        return bool(raw)
    value = normalise(raw)
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueRejected(f"{raw!r} is not yes/no (ja/nein)")


def parse_date(raw: Any) -> dt.date:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    text = str(raw).strip()
    for pattern in ("%Y-%m-%d", "%d.%m.%Y", "%d.%m.%y", "%Y/%m/%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValueRejected(f"{raw!r} is not a date (e.g. 2024-12-31 or 31.12.2024)")


def parse_ags(raw: Any) -> str:
    text = str(raw).strip()
    if re.fullmatch(r"\d+(\.0)?", text):
        text = text.split(".")[0].zfill(8)
    if not re.fullmatch(r"\d{8}", text):
        raise ValueRejected(f"{raw!r} is not an 8-digit AGS (Gemeindeschlüssel), e.g. 05913000")
    return text


#: The largest mapping file read (a mapping of a few hundred columns and codes is some kilobytes).
MAPPING_MAX_BYTES = 1 << 20


def _read_mapping_file(path: Path) -> dict:
    """The sections of a mapping file, each a mapping (empty when absent)."""
    name = Path(path).name
    try:
        if Path(path).stat().st_size > MAPPING_MAX_BYTES:
            raise MappingError(
                f"mapping file {name}: larger than {MAPPING_MAX_BYTES // 1024:,} KiB; a mapping is far smaller"
            )
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except RecursionError:  # brackets nested thousands deep
        raise MappingError(f"mapping file {name}: nests too deeply; a mapping has sections of name: value") from None
    except UnicodeDecodeError:
        raise MappingError(f"mapping file {name}: is not UTF-8 text") from None
    except OSError as exc:
        raise MappingError(f"mapping file {name}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise MappingError(f"mapping file {name}: is not valid YAML{line}: {problem}") from None
    if not isinstance(spec, dict) or set(spec) - {"columns", "values", "defaults", "ignore"}:
        raise MappingError(f"mapping file {name}: expected the sections columns, values, defaults, ignore")
    for section in ("columns", "values", "defaults"):
        spec[section] = spec.get(section) or {}
        if not isinstance(spec[section], dict):
            raise MappingError(f"mapping file {name}: the section {section} must be a mapping (name: value)")
    spec["ignore"] = spec.get("ignore") or []
    if not isinstance(spec["ignore"], list) or not all(isinstance(c, str | int) for c in spec["ignore"]):
        raise MappingError(
            f"mapping file {name}: the section ignore must be a list of column names, e.g. ignore: [AGS]"
        )
    return spec
