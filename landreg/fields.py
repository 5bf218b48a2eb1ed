"""The parcel fields: one declaration per field, from which every other place derives.

Models, the import's staging table and column synonyms, export columns (and Shapefile names),
queryables, tile properties, map labels and the rules for create / replace / update read this
module; none of them lists fields of its own. Adding an attribute means adding one
:class:`Field` here and one migration (see :func:`migration_sql`).

``confidential`` fields are seen only by those who may see a parcel's confidential facts (see
:mod:`landreg.access`); a value *derived* from one (``derived_from``) is confidential too unless it
is declared public on purpose, with the reason in its description.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Boolean, Date, Float, Integer, SmallInteger, String
from sqlalchemy.types import TypeEngine

from landreg import vocab
from landreg.vocab import CodeList

# kind -> (Python type, SQLAlchemy type, SQL type, binary COPY type name)
_KINDS: dict[str, tuple[type, type[TypeEngine], str, str]] = {
    "text": (str, String, "text", "text"),
    "code": (str, String, "text", "text"),
    "smallint": (int, SmallInteger, "smallint", "int2"),
    "integer": (int, Integer, "integer", "int4"),
    "float": (float, Float, "double precision", "float8"),
    "bool": (bool, Boolean, "boolean", "bool"),
    "date": (dt.date, Date, "date", "date"),
}


@dataclass(frozen=True)
class Field:
    """One parcel field and everything the registry needs to know about it."""

    name: str
    kind: str  # a key of _KINDS
    label_de: str
    label_en: str
    codes: CodeList | None = None  # the code list its values come from
    confidential: bool = False  # only for those who may see the parcel's confidential facts
    editable: bool = True  # planners set it (else the registry derives it)
    required: bool = False  # a new parcel needs it
    default: str | None = None  # SQL default of a NOT NULL column: kept when a replacement omits it
    queryable: bool = True  # filter, sort and select by it (within what the caller may see)
    # carried in vector tiles: what a map colours a parcel by and its popup's headline; the rest of the
    # record a popup reads from the item when the parcel is clicked (see landreg.tiles)
    in_tiles: bool = False
    # shown in a map popup (and embedded in a map file, which may travel further than the register):
    # not technical numbers, nor a person's contact or free-text notes, which stay in the register's pages
    in_popup: bool = True
    export: bool = True  # a column of exports (and so of a re-import)
    shapefile_name: str | None = None  # when longer than the 10 characters of a Shapefile field
    synonyms: tuple[str, ...] = ()  # column names an import recognises (normalised), besides the name
    derived_from: tuple[str, ...] = ()  # the fields a derived value is computed from
    # derived from a confidential field and yet public: declared here, with the reason in the description
    public_on_purpose: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"field {self.name}: unknown kind {self.kind!r}")
        if self.shapefile_name is None and len(self.name) > 10 and self.export:
            raise ValueError(f"field {self.name}: needs a shapefile_name of at most 10 characters")

    @property
    def python_type(self) -> type:
        return _KINDS[self.kind][0]

    @property
    def sqlalchemy_type(self) -> type[TypeEngine]:
        return _KINDS[self.kind][1]

    @property
    def sql_type(self) -> str:
        return _KINDS[self.kind][2]

    @property
    def copy_type(self) -> str:
        return _KINDS[self.kind][3]

    @property
    def not_null(self) -> bool:
        return self.required or self.default is not None

    @property
    def short_name(self) -> str:
        """The name in a Shapefile (10 characters at most)."""
        return self.shapefile_name or self.name

    def label(self, lang: str = "de") -> str:
        return self.label_en if lang == "en" else self.label_de

    def column_names(self) -> tuple[str, ...]:
        """Every name an import recognises for this field (normalised)."""
        names = (self.name, *self.synonyms)
        return names if self.shapefile_name is None else (*names, self.shapefile_name)


def _code(name: str, codes: CodeList, de: str, en: str, **kw) -> Field:
    return Field(name, "code", de, en, codes=codes, **kw)


#: A parcel's own, versioned attributes, in the order exports and imports use.
ATTRIBUTES: tuple[Field, ...] = (
    Field(
        "local_ref", "text", "Kennung", "Reference", required=True,
        synonyms=("ref", "referenz", "kennung", "id_gemeinde", "flaechen_id", "flaechenid", "flaechen_nr",
                  "flaechennr", "flaechennummer", "nr", "nummer", "objekt_id", "objektnr", "site_reference",
                  "site_ref", "reference", "aktenzeichen", "id"),
        description="the municipality's own reference, unique per AGS",
    ),
    Field(
        "name", "text", "Name", "Name", in_tiles=True,
        synonyms=("bezeichnung", "flaechenname", "flaechenbezeichnung", "titel", "site_name", "standort",
                  "lagebezeichnung"),
    ),
    _code(
        "category", vocab.CATEGORY, "Kategorie", "Category", required=True, in_tiles=True,
        synonyms=("kategorie", "flaechenart", "flaechentyp", "art", "typ", "type", "site_type"),
    ),
    _code(
        "status", vocab.STATUS, "Status", "Status", default="'potenzial'", in_tiles=True,
        synonyms=("zustand", "lifecycle", "stand_der_entwicklung"),
    ),
    _code(
        "designation", vocab.DESIGNATION, "Planungsrecht", "Designation", shapefile_name="designat",
        synonyms=("planung", "festsetzung", "darstellung", "gebietsart", "baugebiet", "nutzungsart", "zoning",
                  "planning_designation"),
    ),
    _code(
        "planning_status", vocab.PLANNING_STATUS, "Planungsstand", "Planning status", shapefile_name="plan_stat",
        synonyms=("planungsstand", "planungsrecht", "planrecht", "planning_state"),
    ),
    Field(
        "previous_use", "text", "Vornutzung", "Previous use", shapefile_name="prev_use",
        synonyms=("vornutzung", "fruehere_nutzung", "ehemalige_nutzung"),
    ),
    _code(
        "contamination", vocab.CONTAMINATION, "Altlasten", "Contamination", confidential=True,
        shapefile_name="contamin",
        synonyms=("altlasten", "altlast", "altlastenstatus", "kontamination"),
        description="the stage of the contamination record (FIS AlBo); the public sees contamination_flag",
    ),
    Field(
        "restriction_class", "smallint", "Restriktionsklasse", "Restriction class", codes=vocab.RESTRICTION_CLASS,
        shapefile_name="restr_cls",
        synonyms=("restriktion", "restriktionsklasse", "restriction"),
    ),
    _code(
        "availability", vocab.AVAILABILITY, "Verfügbarkeit", "Availability", shapefile_name="avail",
        synonyms=("verfuegbarkeit", "verfuegbar_ab"),
    ),
    _code(
        "ownership", vocab.OWNERSHIP, "Eigentum", "Ownership",
        synonyms=("eigentum", "eigentuemer_typ", "eigentumsverhaeltnisse", "eigentuemerart"),
    ),
    _code(
        "owner_willing", vocab.OWNER_WILLING, "Mitwirkungsbereitschaft", "Owner willing", confidential=True,
        default="'unbekannt'", shapefile_name="owner_wil",
        synonyms=("verkaufsbereitschaft", "mitwirkungsbereitschaft", "eigentuemer_bereit", "willing"),
    ),
    _code(
        "servicing", vocab.SERVICING, "Erschließung", "Servicing",
        synonyms=("erschliessung", "erschlossen", "erschliessungsstand"),
    ),
    Field(
        "owner_contact", "text", "Eigentümerkontakt", "Owner contact", confidential=True, in_popup=False, shapefile_name="owner_cont",
        synonyms=("eigentuemer", "eigentuemerkontakt", "kontakt", "owner"),
    ),
    Field(
        "internal_notes", "text", "Interne Notizen", "Internal notes", confidential=True, in_popup=False, shapefile_name="int_notes",
        synonyms=("notizen", "bemerkung", "bemerkungen", "interne_notiz", "anmerkung", "notes"),
    ),
    Field(
        "publication_allowed", "bool", "Zur Veröffentlichung ausgewählt (§ 200 Abs. 3 BauGB)",
        "Selected for publication (§ 200 (3) BauGB)", confidential=True, default="false",
        shapefile_name="pub_allow",
        synonyms=("veroeffentlichung", "veroeffentlichen", "oeffentlich_sichtbar", "publizierbar", "publish",
                  "pub_allowed"),
        description="the municipality's selection for its Baulandkataster; public only once a notice covering it "
        "has run its objection period without an active objection (public_since); confidential",
    ),
    Field(
        "data_date", "date", "Stand", "Data date",
        synonyms=("stand", "datum", "erhebungsdatum", "survey_date", "last_updated"),
    ),
    Field(
        "is_sample", "bool", "Beispieldaten", "Sample data", default="false",
        synonyms=("beispieldaten", "sample_data"),
    ),
    _code(
        "abstand_class", vocab.ABSTAND_CLASS, "Abstandsklasse (vorgehalten)", "Abstandserlass class (kept for)",
        shapefile_name="abstand_kl",
        synonyms=("abstandsklasse", "abstandserlass", "distance_class"),
    ),
    Field(
        "flurstueckskennzeichen", "text", "Flurstückskennzeichen", "Cadastral parcel numbers (ALKIS)",
        shapefile_name="flst_kennz",
        synonyms=("flstkennz", "flurstkennz", "fsk", "flurstueck_kennzeichen", "flurstuecke", "kennzeichen_flurstueck",
                  "cadastral_parcels"),
        description="the ALKIS Flurstücke the parcel covers: their 20-character keys (e.g. 05329001100085______), "
        "sorted and comma-separated (landreg.flurstueck; the database refuses any other form). Text, not an "
        "array, so that filters, exports, tiles and forms take it like every other field (a Shapefile's 254 "
        "characters hold 12 keys: export a parcel of more Flurstücke as GeoPackage); "
        "filter one Flurstück with LIKE '%05329001100085\\_\\_\\_\\_\\_\\_%' (every key has 20 characters). "
        "Public: a Flurstückskennzeichen is no personal data by itself (owners are in the Grundbuch, not in "
        "it) and NRW publishes every key with its outline as open data (ALKIS vereinfacht, dl-zero-de/2.0), so "
        "it tells nothing the parcel's public outline does not; it is shown only where the parcel is",
    ),
)  # fmt: skip

#: The municipality a parcel lies in: given, or derived by the database from the geometry.
AGS = Field(
    "ags", "text", "Gemeinde", "Municipality",
    synonyms=("gemeindeschluessel", "gkz", "gemeindekennziffer", "municipality_ags", "ags8",
              "gmdschl", "gemeindezugehoerigkeit"),  # ALKIS vereinfacht, NAS (landreg.importer.alkis)
    description="8-digit Gemeindeschlüssel; the database derives it from the geometry when not given",
)  # fmt: skip

#: What the data quality (landreg.quality) reads: the fields categories need, the plausibility rules' fields,
#: the outline and the municipality (for duplicates and borders).
_QUALITY_INPUTS = (
    "ags", "category", "status", "designation", "planning_status", "previous_use", "contamination", "restriction_class",
    "availability", "ownership", "servicing", "data_date", "area_m2",
)  # fmt: skip

#: Values the registry computes; nobody sets them.
DERIVED: tuple[Field, ...] = (
    Field("area_m2", "float", "Fläche (m²)", "Area (m²)", editable=False,
          description="ST_Area of the geometry in EPSG:25832"),
    Field(
        "version", "integer", "Version", "Version", confidential=True, editable=False, in_popup=False,
        description="counts every edit of the parcel, of confidential fields too: whoever does not see those "
        "would learn from it that one of them changed. Confidential for that reason; the public's ETag of an "
        "item is a hash of what it shows",
    ),
    Field(
        "public_since", "date", "Öffentlich seit", "Public since", confidential=True, editable=False,
        shapefile_name="public_frm", derived_from=("publication_allowed",),
        description="derived from the notices and objections (§ 200 (3) BauGB): the day from which the parcel is "
        "public; empty: not public. Confidential: it would tell of an objection",
    ),
    Field(
        "contamination_flag", "bool", "Altlastverdacht", "Suspected contamination", editable=False,
        shapefile_name="contam_flg", derived_from=("contamination",), public_on_purpose=True,
        description="public on purpose: whether contamination is suspected or under investigation, not which "
        "(one bit, the same for 'verdacht' and 'untersucht'); never used to score for the public",
    ),
    Field(
        "abstand_class_possible", "text", "Abstandsklasse möglich", "Abstandserlass class possible", editable=False,
        shapefile_name="abst_poss",
        description="the strictest Abstandserlass class that fits the distance to the nearest residential area; "
        "'unbekannt' where no residential layer covers the parcel and its surroundings (landreg.context)",
    ),
    Field(
        "abstand_class_possible_number", "integer", "Abstandsklasse möglich (Nummer)",
        "Abstandserlass class possible (number)", editable=False, in_popup=False, shapefile_name="abst_num",
        description="1 = I … 7 = VII, 8 = none fits; filter 'class III possible' as <= 3",
    ),
    Field(
        "quality_score", "integer", "Datenqualität (0–100)", "Data quality (0–100)", editable=False,
        confidential=True, shapefile_name="qual_score", derived_from=_QUALITY_INPUTS,
        description="max(0, round(60 × completeness + 40 − penalties of the findings)), see landreg.quality; "
        "confidential: a finding (altlastverdacht_kurzfristig) and a Brachfläche's completeness give the "
        "contamination record away",
    ),
    Field(
        "quality_findings", "text", "Qualitätshinweise", "Quality findings", editable=False, confidential=True,
        shapefile_name="qual_find", derived_from=_QUALITY_INPUTS,
        description="the findings' codes, comma-separated (e.g. doppelte_geometrie,stand_aelter_12_monate); "
        "filter one with LIKE '%doppelte_geometrie%'",
    ),
)  # fmt: skip

ALL: tuple[Field, ...] = (AGS, *ATTRIBUTES, *DERIVED)
_BY_NAME = {f.name: f for f in ALL}


def check_derivations(fields: tuple[Field, ...]) -> None:
    """A field derived from a confidential one is confidential itself or declared public on purpose:
    a derived field added without either fails here, when the module is imported, instead of
    becoming public unnoticed."""
    by_name = {f.name: f for f in fields}
    for f in fields:
        secret = [name for name in f.derived_from if name in by_name and by_name[name].confidential]
        if secret and not f.confidential and not f.public_on_purpose:
            raise ValueError(
                f"field {f.name}: derived from the confidential {', '.join(secret)}; make it confidential, or "
                "declare it public_on_purpose with the reason in its description"
            )


check_derivations(ALL)


def field(name: str) -> Field:
    return _BY_NAME[name]


def names(fields=ATTRIBUTES) -> tuple[str, ...]:
    return tuple(f.name for f in fields)


ATTRIBUTE_NAMES = names(ATTRIBUTES)
#: What a caller may set on a parcel (the geometry besides): the key and the editable attributes.
EDITABLE = frozenset({AGS.name, *(f.name for f in ATTRIBUTES if f.editable), "geom"})
#: Parcel fields that hold a code from a list of text codes, and the list.
CODE_FIELDS: dict[str, CodeList] = {f.name: f.codes for f in ATTRIBUTES if f.kind == "code" and f.codes}
#: The fields a replacement (PUT) keeps when it omits them (required, or NOT NULL with a default);
#: every other attribute it omits is cleared.
KEPT_ON_REPLACE = frozenset({AGS.name, "geom", *(f.name for f in ATTRIBUTES if f.not_null)})


def public(fields: tuple[Field, ...] = ALL) -> tuple[Field, ...]:
    """The fields anyone may see: the ones not confidential. A field derived from a confidential one
    is confidential itself unless declared public on purpose (``contamination_flag``), which
    :func:`check_derivations` holds every field to when this module is imported."""
    return tuple(f for f in fields if not f.confidential)


def confidential(fields: tuple[Field, ...] = ALL) -> tuple[Field, ...]:
    return tuple(f for f in fields if f.confidential)


def export_fields() -> tuple[Field, ...]:
    """The columns of an export, besides ``id`` and the geometry, in file order."""
    return tuple(f for f in (AGS, *ATTRIBUTES, *DERIVED) if f.export)


def tile_fields() -> tuple[Field, ...]:
    return tuple(f for f in ALL if f.in_tiles)


def popup_fields() -> tuple[Field, ...]:
    return tuple(f for f in ALL if f.in_popup or f.in_tiles)


def labels(lang: str = "de") -> dict[str, str]:
    return {f.name: f.label(lang) for f in ALL}


def migration_sql(new: Field) -> list[str]:
    """The statements a migration needs for a new attribute: the column on the parcel and on its
    past versions (the history view and trigger list the versioned columns too; see migration 0012)."""
    null = " NOT NULL" if new.not_null else ""
    default = f" DEFAULT {new.default}" if new.default is not None else ""
    return [
        f"ALTER TABLE parcel ADD COLUMN {new.name} {new.sql_type}{default}{null}",
        f"ALTER TABLE parcel_past_version ADD COLUMN {new.name} {new.sql_type}",
    ]
