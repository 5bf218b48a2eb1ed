"""The exposé (HTML and PDF), the comparison and the contacts; and no leak from any of them.

The register holds a confidential value and an unpublished parcel carrying unique markers; search,
exposé, comparison and PDF (its text extracted with pypdf) are rendered and searched for them.
"""

from __future__ import annotations

import io

import pytest
import shapely
from pypdf import PdfReader
from sqlalchemy import text
from sqlalchemy.orm import Session

from landreg import clock, publication
from landreg.access import Principal
from landreg.errors import InvalidParameter, NotFound
from landreg.parcels import create_parcel
from landreg.scoring import ensure_default_profiles, recompute
from landreg.sites import contacts
from landreg.sites.compare import compare, parse_ids
from landreg.sites.expose import expose
from landreg.sites.search import SiteQueryError
from tests.helpers import DORTMUND_REINOLDIKIRCHE, app_client, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
DORTMUND = "05913000"
MARKER = "zQ9v"


@pytest.fixture
def world(committed_db):
    """Three offered public sites in Dortmund, one unpublished (marked), one whose owner objects later."""
    engine = committed_db
    with engine.begin() as conn:
        ensure_default_profiles(conn)
        contacts.set_contact(
            conn, "test", DORTMUND, "Wirtschaftsförderung Dortmund", "info@wf-dortmund.example", "+49 231 50-0",
            "https://wirtschaftsfoerderung.example/dortmund",
        )  # fmt: skip
    specs = {
        "A": ("industrieflaeche", 400, "kurzfristig", True, 0),
        "B": ("gewerbeflaeche", 200, "mittelfristig", True, 900),
        "C": ("gewerbeflaeche", 200, "mittelfristig", True, 1400),
        "SECRET": ("industrieflaeche", 300, "kurzfristig", False, 1900),
        "OBJECTED": ("gewerbeflaeche", 150, "kurzfristig", True, 2500),
    }
    ids = {}
    with Session(engine) as session:
        for ref, (category, width, availability, published, dx) in specs.items():
            ids[ref] = str(
                create_parcel(
                    session, "t", local_ref=ref, category=category, availability=availability, status="verfuegbar",
                    servicing="erschlossen", designation="GI" if ref == "A" else "GE", publication_allowed=published,
                    owner_willing="ja", contamination="verdacht", owner_contact=f"Kontakt {MARKER}",
                    internal_notes=f"Notiz {MARKER}",
                    name=f"Standort {ref}" + ("" if published and ref != "OBJECTED" else f" {MARKER}"),
                    geom=shapely.box(X0 + dx, Y0, X0 + dx + width, Y0 + width),
                ).id
            )  # fmt: skip
        session.commit()
    recompute(engine, "test")
    return {"engine": engine, "ids": ids}


def _object(engine, parcel_id: str) -> None:
    with engine.begin() as conn:
        planner = Principal(None, "planer.do", "planner", (DORTMUND,))
        publication.record_objection(conn, planner, parcel_id, clock.today(), f"Einspruch {MARKER}")


def test_the_expose_has_the_facts_score_reasons_contact_and_licence(world):
    with world["engine"].connect() as conn:
        x = expose(conn, world["ids"]["A"], "de")
    facts = {f["label"]: f["value"] for f in x["facts"]}
    assert facts["Kategorie"] == "Industriefläche" and facts["Planungsrecht"] == "Industriegebiet (GI)"
    assert facts["Erschließung"] == "Erschlossen" and facts["Verfügbarkeit"] == "Kurzfristig (< 1 Jahr)"
    assert facts["Größe"].startswith("16,00 ha")  # 400 m × 400 m
    assert facts["Altlastverdacht"] == "ja"  # the public flag, never the record's stage
    assert x["score"] is not None and x["reasons"]["strengths"]
    assert all("Punkte" in r for r in x["reasons"]["strengths"])
    assert "Mitwirkungsbereitschaft" in x["reasons"]["withheld"]  # built on a confidential field
    assert x["contact"].email == "info@wf-dortmund.example"
    assert x["licence"]["id"] and x["licence"]["attribution"]
    neighbours = {f["id"] for f in x["surroundings"]["neighbours"]["features"]}
    assert world["ids"]["B"] in neighbours and world["ids"]["SECRET"] not in neighbours
    assert MARKER not in repr(x)


def test_an_unpublished_unknown_or_objected_site_is_not_found(world):
    with world["engine"].connect() as conn:
        for missing in (world["ids"]["SECRET"], "00000000-0000-0000-0000-000000000000", "kein-uuid"):
            with pytest.raises(NotFound):
                expose(conn, missing)
        expose(conn, world["ids"]["OBJECTED"])  # public until its owner objects
    _object(world["engine"], world["ids"]["OBJECTED"])
    with world["engine"].connect() as conn:
        with pytest.raises(NotFound):
            expose(conn, world["ids"]["OBJECTED"])
        with pytest.raises(NotFound):
            compare(conn, [world["ids"]["A"], world["ids"]["OBJECTED"]])
    with app_client(world["engine"]) as client:
        for suffix in ("", ".pdf"):
            answer = client.get(f"/standorte/{world['ids']['OBJECTED']}{suffix}")
            assert answer.status_code == 404 and MARKER not in answer.text
        listed = client.get("/standorte").text
        assert world["ids"]["OBJECTED"] not in listed and world["ids"]["A"] in listed


def test_compare_marks_differences_and_wants_two_to_four(world):
    ids = world["ids"]
    with world["engine"].connect() as conn:
        result = compare(conn, [ids["B"], ids["C"], ids["A"]])
    assert [s["id"] for s in result.sites] == [ids["B"], ids["C"], ids["A"]]
    rows = {r["label"]: r for r in result.rows}
    assert rows["Kategorie"]["differs"] and rows["Kategorie"]["values"][0] == "Gewerbefläche"
    assert not rows["Erschließung"]["differs"]
    for wrong in ("", ids["A"], ",".join([ids["A"]] * 2), ",".join(["a", "b", "c", "d", "e"])):
        with pytest.raises(SiteQueryError) as refused:
            parse_ids(wrong)
        assert refused.value.field == "ids" and "2 bis 4 Standorte" in refused.value.text("de")
    with app_client(world["engine"]) as client:
        none = client.get("/standorte/vergleich")
        assert none.status_code == 200 and "2 bis 4 Standorte" in none.text
        one = client.get(f"/standorte/vergleich?ids={ids['A']}")
        assert one.status_code == 400 and "2 bis 4 Standorte vergleichen" in one.text
        five = client.get("/standorte/vergleich?ids=" + ",".join([ids["A"], ids["B"], ids["C"], "x", "y"]))
        assert five.status_code == 400 and "nicht 5" in five.text
        page = client.get(f"/standorte/vergleich?ids={ids['A']}&ids={ids['B']}")
        assert page.status_code == 200 and "unterschiedlich" in page.text
        english = client.get(f"/standorte/vergleich?ids={ids['A']},{ids['B']}&lang=en")
        assert "Sites compared" in english.text and "differs" in english.text


def test_the_pdf_carries_the_exposes_text(world):
    with app_client(world["engine"]) as client:
        answer = client.get(f"/standorte/{world['ids']['A']}.pdf")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(answer.content))
    text_ = " ".join(page.extract_text() for page in reader.pages)
    assert reader.pages[0].mediabox.width == pytest.approx(595, abs=2)  # A4
    for expected in ("Standort A", "Eckdaten", "Industriefläche", "Wirtschaftsförderung Dortmund",
                     "info@wf-dortmund.example", "Lizenz", "Datenstand"):  # fmt: skip
        assert expected in text_, expected
    assert MARKER not in text_


def test_bad_search_parameters_give_a_german_400_page_naming_the_field(world):
    with app_client(world["engine"]) as client:
        for url, words in (
            ("/standorte?min_ha=abc", "Größe von (ha) (min_ha): muss eine Zahl sein"),
            ("/standorte?max_ha=99999", "zwischen 0 und 10000 ha"),
            ("/standorte?category=schloss", "unbekannter Wert"),
            ("/standorte?near=51.5,7.4", "vertauscht"),
            ("/standorte?port_km=3", "nicht gefiltert"),  # no port layer loaded
            ("/standorte?offset=-4", "offset"),
        ):
            answer = client.get(url)
            assert answer.status_code == 400, url
            assert words in answer.text, (url, answer.text[:2000])
        english = client.get("/standorte?min_ha=abc&lang=en")
        assert english.status_code == 400 and "Size from (ha) (min_ha): must be a number" in english.text


def test_no_public_site_page_gives_a_marker_away(world):
    ids = world["ids"]
    _object(world["engine"], ids["OBJECTED"])
    with app_client(world["engine"]) as client:
        urls = [
            "/standorte",
            "/standorte?sort=size&lang=en",
            "/standorte?category=industrieflaeche&near=7.47,51.51&sort=distance",
            f"/standorte/vergleich?ids={ids['A']},{ids['B']},{ids['C']}",
            f"/standorte/vergleich?ids={ids['A']},{ids['SECRET']}",
        ]
        urls += [f"/standorte/{i}" for i in ids.values()] + [f"/standorte/{i}.pdf" for i in ids.values()]
        for url in urls:
            answer = client.get(url)
            assert answer.status_code in (200, 400, 404), url
            body = answer.text
            if answer.headers["content-type"] == "application/pdf":
                body = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(answer.content)).pages)
            assert MARKER not in body, url
            assert "Kontakt " not in body and "Notiz " not in body, url


def test_contacts_are_checked(world):
    with world["engine"].begin() as conn:
        for kwargs, field in (
            (dict(ags="0591300"), "ags"),
            (dict(name="x"), "name"),
            (dict(email="keine-adresse"), "email"),
            (dict(email="a@b"), "email"),
            (dict(phone="call me"), "phone"),
            (dict(phone="12"), "phone"),
            (dict(url="javascript:alert(1)"), "url"),
            (dict(ags="99999999"), "ags"),
        ):
            values = dict(ags=DORTMUND, name="Wirtschaftsförderung", email="a@b.example", phone="+49 231 1") | kwargs
            with pytest.raises(InvalidParameter) as refused:
                contacts.set_contact(conn, "t", **values)
            assert refused.value.field == field, kwargs
        assert [c.ags for c in contacts.contacts(conn)] == [DORTMUND]
        conn.execute(text("SELECT 1"))


def test_the_contact_command_line(committed_db):
    from tests.helpers import database_url
    from tests.test_cli import landreg

    db = {"LANDREG_DATABASE_URL": database_url(committed_db)}
    recorded = landreg(
        "contact", "set", "05113000", "--name", "EWG – Essener Wirtschaftsförderung", "--email", "info@ewg.example",
        "--phone", "+49 201 82024-0", **db,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    assert "contact of Essen (05113000) recorded" in recorded.stdout
    wrong = landreg("contact", "set", "05113000", "--name", "EWG", "--email", "ewg", "--phone", "0201 1", **db)
    assert wrong.returncode != 0 and "--email: an e-mail address" in wrong.stderr and "Traceback" not in wrong.stderr
    listed = landreg("contact", "list", **db)
    assert "05113000" in listed.stdout and "info@ewg.example" in listed.stdout and "+49 201 82024-0" in listed.stdout
