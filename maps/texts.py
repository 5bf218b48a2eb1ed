"""What the maps say, in German and English (German first). Code lists come from :mod:`landreg.vocab`."""

from __future__ import annotations

from landreg import fields, rules
from landreg.access import PUBLIC, View

LANGS = ("de", "en")

TEXT: dict[str, tuple[str, str]] = {
    "standortkarte": ("Standortkarte", "Site map"),
    "standortkarte.sub": ("Angebotene Flächen für Investoren", "Sites offered to investors"),
    "prioritaetenkarte": ("Prioritätenkarte", "Priority map"),
    "prioritaetenkarte.sub": ("Wo die Wiedernutzung beginnen sollte", "Where reuse should start"),
    "flaechensicherungskarte": ("Flächensicherungskarte", "Safeguarding map"),
    "flaechensicherungskarte.sub": (
        "Gewerbe- und Industrieflächenreserven und ihr Planungsdruck",
        "Commercial and industrial reserves and the planning pressure on them",
    ),
    "gemeindeuebersicht": ("Gemeindeübersicht", "Municipal overview"),
    "gemeindeuebersicht.sub": ("Flächenreserven je Gemeinde", "Land reserves per municipality"),
    "parcels": ("Flächen", "Parcels"),
    "municipalities": ("Gemeindegrenzen", "Municipal boundaries"),
    "osm": ("OpenStreetMap (Hintergrund)", "OpenStreetMap (background)"),
    "legend": ("Legende", "Legend"),
    "sample": ("Beispieldaten – keine echten Flächen", "Sample data – not real parcels"),
    "data_date": ("Datenstand", "Data as of"),
    "count": ("Flächen", "parcels"),
    "area": ("Fläche", "Area"),
    "municipality": ("Gemeinde", "Municipality"),
    "score": ("Priorität", "Priority"),
    "score_for": ("Priorität (Profil {profile})", "Priority (profile {profile})"),
    "not_scored": ("nicht bewertet", "not scored"),
    "drivers": ("Wichtigste Gründe", "Main drivers"),
    "weakness": ("Größtes Defizit", "Main weakness"),
    "points": ("Punkte", "points"),
    "contamination_flag": ("Altlastverdacht", "Suspected contamination"),
    "yes": ("ja", "yes"),
    "no": ("nein", "no"),
    "details": ("Details", "Details"),
    "zoom_in": ("Hineinzoomen für einzelne Flächen", "Zoom in for single parcels"),
    "short_term": ("kurzfristig verfügbar", "available short term"),
    "top": ("Top {n}", "Top {n}"),
    "rank": ("Rang", "Rank"),
    "filter": ("Filter", "Filter"),
    "apply": ("Anwenden", "Apply"),
    "all": ("alle", "all"),
    "min_area": ("Mindestfläche (m²)", "Minimum area (m²)"),
    "max_area": ("Höchstfläche (m²)", "Maximum area (m²)"),
    "language": ("English", "Deutsch"),
    "shown": ("{n} Flächen gezeigt", "{n} parcels shown"),
    "shown_tiles": ("{n} Flächen (Vektorkacheln)", "{n} parcels (vector tiles)"),
    # the Gemeindeübersicht's figures, named as landreg.rules names them, and what each counts
    **{f"{figure}_ha": (f"{de}, ha", f"{en}, ha") for figure, (de, en) in rules.LABELS.items()},
    "available_ha.about": (
        "Fläche mit dem Status „verfügbar“, alle Kategorien",
        "area with the status 'available', all categories",
    ),
    "restriction_free_ha.about": (
        "Reserve ohne Restriktionen, die irgendwann verfügbar ist, alle Kategorien",
        "reserve without restrictions that is available at some time, all categories",
    ),
    "reserve_ha.about": (
        "weder genutzt noch einer anderen Nutzung zugeführt, alle Kategorien",
        "neither taken up nor lost to another use, all categories",
    ),
    "years_of_supply": ("Reichweite (Jahre)", "Years of supply"),
    "years_of_supply.about": (
        "restriktionsfreie Reserve an Gewerbe- und Industrieflächen ÷ jährliche Inanspruchnahme der letzten {years} Jahre",
        "restriction-free commercial and industrial reserve ÷ annual take-up of the last {years} years",
    ),
    "reserve_count": ("Flächen der Reserve", "Reserve parcels"),
    "no_data": ("keine Angabe", "no data"),
    "pressure": ("Planungsdruck", "Planning pressure"),
    "watch": ("Beobachtungsliste", "Watch list"),
    "conflict": ("Konflikt der Planprüfung", "Plan check conflict"),
    "loading": ("lädt …", "loading …"),
    "load_failed": (
        "Die Angaben zu dieser Fläche konnten nicht geladen werden ({reason}). Bitte die Fläche erneut anklicken "
        "oder „Details“ öffnen.",
        "The details of this parcel could not be loaded ({reason}). Please click the parcel again or open 'Details'.",
    ),
}


def t(key: str, lang: str = "de", **values) -> str:
    de, en = TEXT[key]
    return (en if lang == "en" else de).format(**values)


def _record_fields(view: View) -> tuple[fields.Field, ...]:
    """The fields of a parcel's record the view sees (what a popup shows once it has the record)."""
    return fields.popup_fields() if view.confidential else fields.public(fields.popup_fields())


def code_labels(lang: str, view: View = PUBLIC) -> dict[str, dict[str, str]]:
    """Code → label by field, for every coded field of the record a popup shows that the view may see
    (a public page carries no vocabulary of a confidential field)."""
    shown = [f for f in _record_fields(view) if f.codes is not None]
    return {f.name: {code: f.codes.label(code, lang) for code in f.codes.codes} for f in shown}


def field_labels(lang: str, view: View = PUBLIC) -> dict[str, str]:
    """The labels of the fields of a parcel's record the view may see, in registry order (the rows of
    a popup), and the score's."""
    score = "Priority" if lang == "en" else "Priorität"
    return {f.name: f.label(lang) for f in _record_fields(view)} | {"score": score}
