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

from landreg import clock, publication, register
from landreg.access import Principal
from landreg.errors import InvalidParameter, NotFound
from landreg.parcels import create_parcel
from landreg.scoring import ensure_default_profiles, recompute
from landreg.sites import contacts
from landreg.sites import expose as expose_module
from landreg.sites.compare import compare, parse_ids
from landreg.sites.expose import expose, surroundings
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


@pytest.mark.parametrize("nearest_published", [True, False])
def test_the_neighbours_are_the_nearest_public_parcels(committed_db, monkeypatch, nearest_published):
    """The map's neighbours are the public parcels nearest to the site, nearest first, however
    many unpublished ones lie closer: checked against distances shapely computes, with the number
    of nearest outlines read first made small so that both ways are taken (the nearest ones
    public: the first read suffices; the nearest ones unpublished: read again without it)."""
    monkeypatch.setattr(expose_module, "MAX_NEIGHBOURS", 5)
    monkeypatch.setattr(expose_module, "NEAR_CANDIDATES", 8)
    site = shapely.box(X0, Y0, X0 + 50, Y0 + 50)
    outlines, public = {}, set()
    with Session(committed_db) as session:
        site_id = str(create_parcel(session, "t", local_ref="S", category="gewerbeflaeche", publication_allowed=True,
                                    geom=site).id)  # fmt: skip
        for i in range(-3, 4):
            for j in range(-3, 4):
                if i == j == 0:
                    continue
                x, y = X0 + 120 * i + 7 * (i + 3) + (j + 3), Y0 + 120 * j + 3 * (j + 3)  # no two at the same distance
                outline = shapely.box(x, y, x + 40, y + 40)
                near = max(abs(i), abs(j)) == 1
                published = near == nearest_published or (i + j) % 2 == 0
                parcel = create_parcel(session, "t", local_ref=f"N{i}{j}", category="gewerbeflaeche",
                                       publication_allowed=published, geom=outline)  # fmt: skip
                outlines[str(parcel.id)] = outline
                if published:
                    public.add(str(parcel.id))
        session.commit()
    expected = sorted(public, key=lambda pid: outlines[pid].distance(site))[:5]
    with committed_db.connect() as conn:
        shown = [f["id"] for f in surroundings(conn, site_id)["neighbours"]["features"]]
    assert shown == expected


def test_the_neighbours_are_where_the_public_sees_them_while_a_change_awaits_review(committed_db, monkeypatch):
    """A planner's change awaiting review moves one parcel away from the site and another next to
    it; the map shows both where the public sees them (their approved outlines), among the nearest
    public parcels as shapely orders them (few outlines read first, so the moved ones compete)."""
    monkeypatch.setattr(expose_module, "MAX_NEIGHBOURS", 3)
    monkeypatch.setattr(expose_module, "NEAR_CANDIDATES", 3)

    def box(dx: float) -> shapely.Polygon:
        return shapely.box(X0 + dx, Y0, X0 + dx + 30, Y0 + 30)

    site = shapely.box(X0 - 50, Y0, X0, Y0 + 30)
    approved = {"leaves": box(20), "ring1": box(100), "ring2": box(150), "ring3": box(200), "ring4": box(300),
                "arrives": box(1200)}  # fmt: skip
    moved_to = {"leaves": box(1400), "arrives": box(10)}
    ids = {}
    with Session(committed_db) as session:
        site_id = str(create_parcel(session, "t", local_ref="S", category="gewerbeflaeche", publication_allowed=True,
                                    geom=site).id)  # fmt: skip
        for ref, outline in approved.items():
            ids[ref] = str(create_parcel(session, "t", local_ref=ref, category="gewerbeflaeche",
                                         publication_allowed=ref != "ring2", geom=outline).id)  # fmt: skip
        session.commit()
        planner = Principal(None, "planer.do", "planner", (DORTMUND,))
        for ref, outline in moved_to.items():
            register.update(session, planner, ids[ref], {1}, {"geom": outline})
        session.commit()
    public = [ref for ref in approved if ref != "ring2"]
    expected = [ids[ref] for ref in sorted(public, key=lambda ref: approved[ref].distance(site))[:3]]
    with committed_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM parcel_pending")).scalar() == 2
        shown = [f["id"] for f in surroundings(conn, site_id)["neighbours"]["features"]]
    assert shown == expected  # leaves, ring1, ring3


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
