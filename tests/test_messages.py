"""The core's message catalogue (landreg.messages): each message German and English from one code,
values written as each language writes them; the parcel's field checks speak through it, the API
and the command line keep their English sentences, the workspace shows the person's language."""

from __future__ import annotations

import datetime as dt
import re
import string

import pytest
import shapely

from landreg import messages, vocab
from landreg.messages import CATALOGUE, Message, message
from landreg.parcels import MAX_TEXT, ParcelError, check_retirement, create_parcel, value_from_text

#: A value for each placeholder the catalogue uses, to render every message.
SAMPLES = {
    "kind": message("kind.date"),
    "value": "fertig",
    "allowed": "a, b",
    "length": 6001,
    "limit": 5000,
    "date": dt.date(2025, 12, 31),
    "code": "sonstiges",
    "label": "Sonstiges",
    # the plan check's
    "file": "plan.gml",
    "reason": "Self-intersection[1 1]",
    "layer": "wohnen",
    "layers": "wohnen, gewerbe",
    "count": 501,
    "percent": 0,
    "x": 393650.0,
    "y": 5708100.0,
    "subject": message("plan.subject.plan"),
    "hint": message("plan.check_crs"),
    "claimed": "Essen (05113000)",
    "found": "Dortmund (05913000, 100%)",
    # the importer's and its CRS checks' (tests/test_messages_import.py shows them on the pages)
    "usual": message("crs.usual.25832"),
    "declared": "EPSG:4326 (WGS 84)",
    "given": "EPSG:25832 (ETRS89 / UTM zone 32N)",
    "crs": "EPSG:31467 (DHDN / 3-degree Gauss-Kruger zone 3)",
    "target": "25832",
    "name": "EPSG:25832 (ETRS89 / UTM zone 32N)",
    "default": message("crs.geojson_default"),
    "said": message("crs.said.file", name="EPSG:4326 (WGS 84)"),
    "swap": message("crs.swap_columns"),
    "degrees": message("crs.in_degrees"),
    "fix": message("crs.fix.check"),
    "replaces": message("crs.replaces_default"),
    "they": message("crs.they_lie.parcels"),
    "zone": 2,
    "items": "a, b, c",
    "row": 20001,
    "names": "'Flächen', 'Legende'",
    "encoding": "cp1252",
    "byte": 1234,
    "letters": "ä, ü",
    "wide": "UTF-16",
    "what": message("import.format.xlsx"),
    "wanted": "Flaechen",
    "sheet": "Flächen",
    "column": "Gemeindeschlüssel",
    "option": "⟦wkt_column⟧",
    "columns": "kennung, kategorie",
    "srids": "SRID=25832, SRID=4326",
    "srid": "31467",
    "file_srid": "25832",
    "format": "GPKG",
    "named": "'kennung', 'id'",
    "example": "[…]",
    "dims": "Z",
    "change": 0.004,
    "before": 1234.5,
    "after": 612.5,
    "tolerance": 25,
    "claim": message("import.claim.mapping"),
    "where": "100 % in 05913000 Dortmund",
    "area": 4.0,
    "min": 10,
    "max": 20000000,
    "ags": "05913000",
    "ref": "E-1",
    "rows": "1, 7",
    "share": 100,
    "claimed_name": "Essen",
    "detail": message("import.at_byte", reason="invalid start byte", byte=17),
    "error": "Expecting value",
    "own": "05113000",
    "high": 10000,
    "low": "1",
    "sizes": "20, 50, 100",
    "field": "category",
}


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_message_has_both_languages_with_the_same_values(code):
    de, en = CATALOGUE[code]
    assert de.strip() and en.strip() and de != en
    values = {name: SAMPLES[name] for name in _placeholders(de) | _placeholders(en)}
    german, english = Message(code, values).text("de"), Message(code, values).text("en")
    assert "{" not in german + english and german != english
    assert str(Message(code, values)) == english


def test_values_are_written_as_each_language_writes_them():
    too_long = message("field.too_long", length=12345, limit=5000)
    assert too_long.text("de") == "ist 12.345 Zeichen lang; erlaubt sind höchstens 5.000"
    assert too_long.text("en") == "is 12,345 characters long; at most 5,000"
    already = message("retire.already", date=dt.datetime(2025, 3, 4, 23, 0, tzinfo=dt.UTC))
    assert already.text("de") == "wurde bereits am 04.03.2025 stillgelegt"
    assert already.text("en") == "was already retired on 2025-03-04"
    wrong = message("field.wrong_kind", kind=message("kind.int"), value="drei")
    assert wrong.text("de") == "muss eine ganze Zahl sein, nicht „drei“"
    assert wrong.text("en") == "must be a whole number, not 'drei'"
    assert messages.text("field.required", "de") == "ist ein Pflichtfeld"
    with pytest.raises(KeyError, match="no message 'field.nonsense'"):
        message("field.nonsense")


@pytest.mark.parametrize(
    ("name", "typed", "value"),
    [
        ("local_ref", " E-1 ", "E-1"),
        ("name", "   ", None),
        ("restriction_class", "2", 2),
        ("data_date", "2025-12-31", dt.date(2025, 12, 31)),
        ("publication_allowed", "ja", True),
        ("publication_allowed", "false", False),
        ("is_sample", "ON", True),
    ],
)
def test_a_field_is_read_from_what_a_person_typed(name, typed, value):
    assert value_from_text(name, typed) == value


@pytest.mark.parametrize(
    ("name", "typed", "english", "german"),
    [
        ("data_date", "31.02.2024", "must be a date (YYYY-MM-DD), not '31.02.2024'", "muss ein Datum (JJJJ-MM-TT"),
        ("restriction_class", "zwei", "must be a whole number, not 'zwei'", "muss eine ganze Zahl sein"),
        ("publication_allowed", "vielleicht", "must be true or false", "muss ja oder nein sein"),
        ("internal_notes", "x" * (MAX_TEXT + 1), "is 5,001 characters long; at most 5,000", "5.001 Zeichen lang"),
        ("name", "a\x00b", "NUL character", "NUL-Zeichen"),
    ],
)
def test_what_cannot_be_read_is_refused_at_the_field_in_both_languages(name, typed, english, german):
    with pytest.raises(ParcelError) as refused:
        value_from_text(name, typed, "E-1")
    error = refused.value
    assert error.field == name and english in error.reason and german in error.text("de")
    assert str(error) == f"parcel E-1: {name}: {error.reason}"  # the API's and the CLI's sentence


def test_the_api_keeps_its_english_sentences(session):
    """The checks' English is what the API said before the catalogue (clients may match on it)."""
    with pytest.raises(ParcelError) as refused:
        create_parcel(session, "t", local_ref="X", category="acker", geom=None)
    assert refused.value.reason == "is required" and refused.value.field == "geom"
    with pytest.raises(ParcelError) as refused:
        create_parcel(session, "t", local_ref="X", category="acker", geom=shapely.box(0, 0, 1, 1))
    allowed = ", ".join(vocab.CATEGORY.codes)
    assert refused.value.reason == f"unknown value 'acker'; allowed: {allowed}"
    assert refused.value.text("de") == f"unbekannter Wert „acker“; erlaubt: {allowed}"


def test_a_database_refusal_without_a_text_in_the_catalogue_stays_as_the_database_said_it():
    error = ParcelError("geom", "geometry is not valid: Self-intersection[1 1]")
    assert error.text("de") == error.text("en") == error.reason == "geometry is not valid: Self-intersection[1 1]"


def test_retirement_messages_speak_both_languages():
    with pytest.raises(ParcelError) as refused:
        check_retirement("sonstiges", "")
    assert refused.value.text("de").startswith("der Grund „Sonstiges (siehe Kommentar)“ braucht einen Kommentar")
    assert refused.value.reason.startswith("the reason sonstiges needs a comment")
    with pytest.raises(ParcelError) as refused:
        check_retirement(None)
    assert re.fullmatch(r"reason: a retirement needs a reason; allowed: bebaut, .*, sonstiges", str(refused.value))
    assert refused.value.text("de").startswith("eine Stilllegung braucht einen Grund; erlaubt: bebaut, ")
