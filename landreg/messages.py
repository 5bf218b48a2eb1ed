"""The core's messages to people, German first with English: one catalogue, each text once.

A refusal carries a :class:`Message`, a stable code with named values, instead of a finished
sentence; whoever shows it picks the language: the workspace the person's, the API and the command
line English (their messages stay as they were). Values are written as each language writes them
(``5.000`` and ``31.12.2025`` in German, ``5,000`` and ``2025-12-31`` in English); a value that is
itself a message (a kind of value, a code's label) is rendered in the same language.

Covered so far: the parcel's field checks (:mod:`landreg.parcels`) and retirement. Refusals of
other areas still carry English text (see :class:`landreg.errors.DomainError`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LANGS = ("de", "en")

#: code -> (German, English). Placeholders name the values (a language may leave one out: German
#: names a code by its label); English may use format specs (``:,``, ``!r``) because its values
#: arrive as they are, German gets them already written (see _german).
CATALOGUE: dict[str, tuple[str, str]] = {
    # kinds of value (used inside other messages)
    "kind.bool": ("ja oder nein", "true or false"),
    "kind.int": ("eine ganze Zahl", "a whole number"),
    "kind.float": ("eine Zahl", "a number"),
    "kind.str": ("Text", "text"),
    "kind.date": ("ein Datum (JJJJ-MM-TT, z. B. 2025-12-31)", "a date (YYYY-MM-DD)"),
    # a parcel's fields
    "field.required": ("ist ein Pflichtfeld", "is required"),
    "field.not_settable": ("ist kein Feld, das man setzen kann", "is not a field a user can set"),
    "field.wrong_kind": ("muss {kind} sein, nicht „{value}“", "must be {kind}, not {value!r}"),
    "field.too_long": (
        "ist {length} Zeichen lang; erlaubt sind höchstens {limit}",
        "is {length:,} characters long; at most {limit:,}",
    ),
    "field.nul": (
        "enthält ein NUL-Zeichen, das nicht gespeichert werden kann; bitte entfernen",
        "contains a NUL character, which cannot be stored; remove it",
    ),
    "field.unknown_code": (
        "unbekannter Wert „{value}“; erlaubt: {allowed}",
        "unknown value {value!r}; allowed: {allowed}",
    ),
    "field.out_of_range": ("{value} liegt außerhalb des Zahlenbereichs", "{value} is out of range"),
    "parcel.local_ref_taken": (
        "diese Kennung trägt schon eine andere Fläche der Gemeinde",
        "this reference is already used by another parcel of the municipality",
    ),
    "parcel.unknown_ags": (
        "keine Gemeinde mit diesem Gemeindeschlüssel (AGS) im Register",
        "no municipality with this AGS is in the registry",
    ),
    "parcel.retired_read_only": (
        "die Fläche ist stillgelegt und kann nicht mehr geändert werden",
        "the parcel is retired and cannot be changed",
    ),
    "geom.empty": ("der Umriss ist leer", "geometry is empty"),
    "geom.has_z": (
        "der Umriss hat Z-Koordinaten; Flächen sind 2D: bitte die Z-Werte weglassen",
        "geometry has Z coordinates; parcels are 2D: drop the Z values",
    ),
    "geom.kind": (
        "der Umriss muss ein Polygon oder MultiPolygon sein, kein {kind}",
        "geometry must be a Polygon or MultiPolygon, not a {kind}",
    ),
    # retiring a parcel
    "retire.already": ("wurde bereits am {date} stillgelegt", "was already retired on {date}"),
    "retire.reason_missing": (
        "eine Stilllegung braucht einen Grund; erlaubt: {allowed}",
        "a retirement needs a reason; allowed: {allowed}",
    ),
    "retire.reason_unknown": (
        "unbekannter Grund „{value}“; erlaubt: {allowed}",
        "unknown reason {value!r}; allowed: {allowed}",
    ),
    "retire.comment_needed": (
        "der Grund „{label}“ braucht einen Kommentar, der sagt, warum die Fläche stillgelegt wird",
        "the reason {code} needs a comment that says why the parcel is retired",
    ),
    # the plan check (landreg.safeguarding): ⟦name⟧ is an option, spelled by the adapter (CLI, API, form)
    "plan.subject.plan": ("der Geltungsbereich", "the plan area"),
    "plan.subject.designation": ("Festsetzung {value}: ihre Fläche", "designation {value}: its area"),
    "plan.area.kind": ("{subject} muss ein Polygon oder Multipolygon sein", "{subject} must be a (multi)polygon"),
    "plan.area.not_finite": (
        "{subject} hat Koordinaten, die keine endlichen Zahlen sind",
        "{subject} has coordinates that are not finite numbers",
    ),
    "plan.area.too_large": ("{subject} ist zu groß: {reason}", "{subject} {reason}"),
    "plan.area.invalid": (
        "{subject} ist kein gültiges Polygon: {reason}",
        "{subject} is not a valid polygon: {reason}",
    ),
    "plan.no_use": (
        "der Plan hat keine Festsetzungen: geben Sie seine geplante Nutzung mit ⟦intended_use⟧ an "
        "(z. B. ⟦intended_use=WA⟧)",
        "the plan has no designations: give its intended use with ⟦intended_use⟧ (e.g. ⟦intended_use=WA⟧)",
    ),
    "plan.unknown_use": (
        "⟦intended_use={value}⟧ ist keine Nutzung, die die Planprüfung kennt; erlaubt: {allowed}",
        "⟦intended_use={value}⟧ is not a use the plan check knows; give one of {allowed}",
    ),
    "plan.unknown_class": (
        "unbekannte Abstandsklasse {value}; Klassen: {allowed}",
        "unknown Abstandserlass class {value}; classes: {allowed}",
    ),
    "plan.too_many_designations": (
        "der Plan hat {count} Festsetzungen, mehr als die {limit}, die eine Planprüfung annimmt; prüfen Sie einen "
        "Teil davon (einen Bereich je Datei) oder laden Sie ihn als Kontextebene",
        "the plan has {count:,} designations, more than the {limit} a plan check takes; check a part of it "
        "(one Bereich per file), or load it as a context layer",
    ),
    "plan.designation_use": (
        "die Festsetzung „{value}“ hat keine Nutzung, die die Planprüfung kennt; bekannt: {allowed}",
        "designation {value!r} has no plan-check use; known: {allowed}",
    ),
    "plan.outside_nrw": (
        "der Plan liegt nicht in Nordrhein-Westfalen: {percent} % seiner Fläche liegen in Gemeinden NRWs "
        "(ein Punkt davon: {x}, {y} in EPSG:25832); {hint}",
        "the plan does not lie in North Rhine-Westphalia: {percent}% of its area lies in NRW's municipalities "
        "(a point of it: {x:.1f}, {y:.1f} in EPSG:25832); {hint}",
    ),
    "plan.check_crs": (
        "prüfen Sie die Koordinaten und das Koordinatensystem (⟦crs⟧)",
        "check the coordinates and the CRS (⟦crs⟧)",
    ),
    "plan.elsewhere": (
        "der Plan nennt die Gemeinde {claimed} (XP_Gemeinde ags/rs), aber sein Geltungsbereich liegt in {found}; "
        "berichtigen Sie die Gemeinde in der Plandatei oder prüfen Sie seine Koordinaten und das Koordinatensystem",
        "the plan names the municipality {claimed} (XP_Gemeinde ags/rs), but its area lies in {found}; correct "
        "the Gemeinde in the plan file, or check its coordinates and CRS",
    ),
    "plan.local_coordinates": (
        "die Koordinaten sehen lokal aus (z. B. {x}, {y}: Meter vom Ursprung einer Zeichnung, keine Lage auf der "
        "Erde); exportieren Sie den Plan georeferenziert, z. B. in ETRS89/UTM 32N (EPSG:25832): ein mit ⟦crs⟧ "
        "angegebenes Koordinatensystem kann lokale Koordinaten nicht verorten",
        "the coordinates look local (e.g. {x:.1f}, {y:.1f}: metres from a drawing's origin, not a position on "
        "the earth); export the plan georeferenced, e.g. in ETRS89/UTM 32N (EPSG:25832): a CRS given with "
        "⟦crs⟧ cannot place local coordinates",
    ),
    "plan.unknown_crs": (
        "EPSG:{code} ist kein bekanntes Koordinatensystem; geben Sie den EPSG-Code der Koordinaten an, "
        "z. B. ⟦crs=25832⟧ für ETRS89/UTM 32N",
        "EPSG:{code} is not a known coordinate reference system; give the EPSG code of the coordinates, "
        "e.g. ⟦crs=25832⟧ for ETRS89/UTM 32N",
    ),
    "plan.not_transformable": (
        "die Koordinaten lassen sich nicht von {value} nach EPSG:25832 umrechnen; prüfen Sie sie und das "
        "Koordinatensystem (⟦crs⟧)",
        "the coordinates cannot be transformed from {value} to EPSG:25832; check them and the CRS (⟦crs⟧)",
    ),
    "plan.not_geojson": ("kein GeoJSON ({reason})", "not GeoJSON ({reason})"),
    "plan.unreadable": (
        "lässt sich nicht als Geodatendatei lesen ({reason})",
        "cannot be read as a geodata file ({reason})",
    ),
    "plan.several_layers": (
        "{file} hat mehrere Ebenen ({layers}); wählen Sie eine mit ⟦layer⟧",
        "{file} has several layers ({layers}); choose one with ⟦layer⟧",
    ),
    "plan.no_such_layer": (
        "{file} hat keine Ebene „{layer}“; Ebenen: {layers}",
        "{file} has no layer {layer!r}; layers: {layers}",
    ),
    "plan.layer_unreadable": (
        "die Ebene „{layer}“ lässt sich nicht lesen ({reason})",
        "layer {layer!r} cannot be read ({reason})",
    ),
    "plan.layer_without_geometry": (
        "die Ebene „{layer}“ hat keine Geometrie; wählen Sie eine andere mit ⟦layer⟧",
        "layer {layer!r} has no geometry; choose another with ⟦layer⟧",
    ),
    "plan.layer_empty": (
        "die Ebene „{layer}“ hat keine Objekte mit Geometrie",
        "layer {layer!r} has no features with a geometry",
    ),
    "plan.cannot_unite": (
        "die Flächen der Datei lassen sich nicht zu einem Geltungsbereich vereinen, weil eine von ihnen ungültig ist "
        "({reason}); reparieren Sie die Geometrien (z. B. in QGIS mit „Geometrien reparieren“)",
        "its areas cannot be united into one plan area because one of them is invalid ({reason}); repair the "
        "geometries (e.g. in QGIS with 'Fix geometries')",
    ),
    "plan.xml_malformed": (
        "{file} ist kein wohlgeformtes XML ({reason}); exportieren Sie den Plan erneut",
        "{file} is not well-formed XML ({reason}); export the plan again",
    ),
    "plan.file_unreadable": ("{file} lässt sich nicht lesen ({reason})", "{file} cannot be read ({reason})"),
    "plan.xplan_none": (
        "{file} enthält keine XPlanGML-Objekte (keinen XPlanung-Namensraum)",
        "{file} holds no XPlanGML features (no XPlanung namespace)",
    ),
    "plan.xplan_mixed": ("{file} mischt die XPlanGML-Versionen {value}", "{file} mixes XPlanGML versions {value}"),
    "plan.xplan_version": (
        "{file} ist XPlanGML {value}; unterstützt werden 5.x und 6.x: konvertieren Sie den Plan (z. B. mit den "
        "XPlanung-Konvertern der Leitstelle XPlanung)",
        "{file} is XPlanGML {value}; supported are 5.x and 6.x: convert it (e.g. with the XPlanung converters "
        "of the Leitstelle XPlanung)",
    ),
    "plan.xplan_no_plan": (
        "{file} enthält keinen Plan (kein BP_Plan-, FP_Plan- … Objekt)",
        "{file} holds no plan (no BP_Plan, FP_Plan … feature)",
    ),
    "plan.xplan_several": (
        "{file} enthält {count} Pläne ({value}); prüfen Sie einen Plan je Datei",
        "{file} holds {count} plans ({value}); check one plan per file",
    ),
    "plan.xplan_no_area": (
        "der Plan hat keinen Geltungsbereich: weder sein {value}.raeumlicherGeltungsbereich noch der "
        "geltungsbereich eines Bereichs hat eine Geometrie; exportieren Sie den Plan mit seinem Geltungsbereich",
        "the plan has no area: neither its {value}.raeumlicherGeltungsbereich nor a Bereich's geltungsbereich "
        "has a geometry; export the plan with its Geltungsbereich",
    ),
    "plan.gdal_layer": ("GDAL kann {layer} nicht lesen ({reason})", "GDAL cannot read {layer} ({reason})"),
}


@dataclass(frozen=True, eq=False)
class Message:
    """A message as a code and its values; :meth:`text` writes it in a language."""

    code: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in CATALOGUE:
            raise KeyError(f"no message {self.code!r} in landreg.messages.CATALOGUE")

    def text(self, lang: str = "en") -> str:
        de, en = CATALOGUE[self.code]
        if lang == "de":
            return de.format(**{name: _german(value) for name, value in self.values.items()})
        return en.format(**{name: _english(value) for name, value in self.values.items()})

    def __str__(self) -> str:
        return self.text("en")

    def __repr__(self) -> str:
        return f"Message({self.code!r}, {dict(self.values)!r})"


def message(code: str, /, **values: Any) -> Message:
    return Message(code, values)


def text(code: str, lang: str = "en", /, **values: Any) -> str:
    """The text of message ``code`` in ``lang`` with ``values``."""
    return Message(code, values).text(lang)


def _german(value: Any) -> Any:
    if isinstance(value, Message):
        return value.text("de")
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".")
    if isinstance(value, float):
        return f"{value:,}".replace(",", "\u202f").replace(".", ",").replace("\u202f", ".")
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%d.%m.%Y")
    return value


def _english(value: Any) -> Any:
    if isinstance(value, Message):
        return value.text("en")
    if isinstance(value, dt.datetime | dt.date):
        return f"{value:%Y-%m-%d}"
    return value
