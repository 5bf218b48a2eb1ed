"""Open data: the three files hold exactly the public view, a refresh rewrites only on change and
atomically, the manifest's checksums hold, the web serves only the manifest's files, and the
DCAT-AP.de catalogue carries the mandatory properties (parsed with rdflib, checked with SPARQL)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pyogrio
import pytest
import rdflib
import shapely
from pyproj import Transformer
from sqlalchemy import text

from landreg import clock, opendata, publication
from landreg.access import PUBLIC, Principal
from landreg.errors import NotFound
from landreg.export import export_columns
from landreg.settings import get_settings
from tests.helpers import DORTMUND_REINOLDIKIRCHE, app_client, database_url, record, utm
from tests.test_cli import landreg

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
DORTMUND = "05913000"
PLANNER = Principal(1, "planer.do", "planner", (DORTMUND,))
_TO_WGS84 = Transformer.from_crs(25832, 4326, always_xy=True)


@pytest.fixture
def register(committed_db):
    """Three public parcels, one never published, one retired; committed (a refresh reads its own
    snapshot)."""
    record(
        committed_db,
        *[
            dict(
                local_ref=ref,
                category="gewerbeflaeche",
                publication_allowed=allowed,
                owner_contact="Kontakt-Z9q",
                data_date=dt.date(2025, 1 + i, 1),
                geom=shapely.Polygon(
                    [
                        (X0 + 300 * i, Y0),
                        (X0 + 300 * i + 120, Y0 + 10),
                        (X0 + 300 * i + 90, Y0 + 140),
                        (X0 + 300 * i, Y0),
                    ]
                ),
            )
            for i, (ref, allowed) in enumerate(
                (("A", True), ("B", True), ("C", True), ("GEHEIM", False), ("ALT", True))
            )
        ],
    )
    with committed_db.begin() as conn:
        conn.execute(
            text(
                "UPDATE parcel SET retired_at = now(), retired_by = 't', retire_reason = 'bebaut' WHERE local_ref = 'ALT'"
            )
        )
    return committed_db


@pytest.fixture
def downloads(tmp_path, monkeypatch):
    """The downloads directory of the settings (and so of the web), in the test's own folder."""
    target = tmp_path / "downloads"
    monkeypatch.setenv("LANDREG_DOWNLOADS_DIR", str(target))
    get_settings.cache_clear()
    yield target
    get_settings.cache_clear()


def _public_geometries(engine) -> dict[str, shapely.Geometry]:
    """The public view by an independent query: published, not retired (nothing waits for review)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("""SELECT id::text, ST_AsBinary(geom) FROM parcel
                     WHERE public_since <= :today AND retired_at IS NULL"""),
            {"today": clock.today()},
        ).all()
    return {i: shapely.from_wkb(bytes(wkb)) for i, wkb in rows}


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def _read(target, manifest, suffix):
    name = next(f["name"] for f in manifest["files"] if f["name"].endswith(suffix))
    return pyogrio.read_dataframe(target / manifest["generation"] / name)


def test_the_files_hold_exactly_the_public_view(register, downloads):
    result = opendata.refresh(register, downloads)
    assert result.changed
    manifest = result.manifest
    expected = _public_geometries(register)
    assert len(expected) == 3 and manifest["count"] == 3
    columns = export_columns(PUBLIC)
    for suffix in (".gpkg", ".csv"):  # EPSG:25832: the stored coordinates, unchanged
        frame = _read(downloads, manifest, suffix)
        assert sorted(frame["id"]) == sorted(expected), suffix
        assert [c for c in frame.columns if c not in ("geometry", "WKT")] == columns, suffix
        assert "owner_contact" not in frame.columns
        for i, geom in zip(frame["id"], frame.geometry, strict=True):
            assert shapely.equals_exact(shapely.normalize(geom), shapely.normalize(expected[i]), 1e-6), suffix
    geojson = _read(downloads, manifest, ".geojson")
    assert geojson.crs.to_epsg() == 4326
    assert sorted(geojson["id"]) == sorted(expected)
    for i, geom in zip(geojson["id"], geojson.geometry, strict=True):  # RFC 7946: 7 decimals, about 1 cm
        assert shapely.hausdorff_distance(geom, shapely.ops.transform(_TO_WGS84.transform, expected[i])) < 1e-6
    raw = json.loads((downloads / manifest["generation"] / "flaechenregister-ruhr.geojson").read_text())
    assert "crs" not in raw  # RFC 7946 has no crs member
    assert {f["crs"] for f in manifest["files"]} == {"EPSG:25832", "EPSG:4326"}
    assert manifest["data_dates"] == ["2025-01-01", "2025-03-01"]
    assert manifest["licence"]["id"] == "dl-de/by-2-0" and manifest["attribution"]


def test_the_files_equal_what_export_public_writes(register, downloads, tmp_path):
    manifest = opendata.refresh(register, downloads).manifest
    exported = tmp_path / "export.gpkg"
    result = landreg("export", "--public", "-o", str(exported), LANDREG_DATABASE_URL=database_url(register))
    assert result.returncode == 0, result.stderr
    ours, theirs = _read(downloads, manifest, ".gpkg"), pyogrio.read_dataframe(exported)
    assert ours.drop(columns="geometry").equals(theirs.drop(columns="geometry"))
    assert all(shapely.equals_exact(a, b, 0) for a, b in zip(ours.geometry, theirs.geometry, strict=True))


def test_checksums_and_sizes_of_the_manifest_hold(register, downloads):
    manifest = opendata.refresh(register, downloads).manifest
    assert json.loads((downloads / "manifest.json").read_text()) == manifest
    assert len(manifest["files"]) == 3
    for f in manifest["files"]:
        data = (downloads / manifest["generation"] / f["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["size"] and f["count"] == 3
    # nothing half-written is left, no sidecar beside the CSV
    assert sorted(p.name for p in (downloads / manifest["generation"]).iterdir()) == sorted(
        f["name"] for f in manifest["files"]
    )
    assert not [p for p in downloads.iterdir() if p.name.startswith(".tmp-")]


def test_an_unchanged_register_is_not_rewritten(register, downloads):
    first = opendata.refresh(register, downloads)
    files = {p: p.stat().st_mtime_ns for p in downloads.rglob("*") if p.is_file()}
    second = opendata.refresh(register, downloads)
    assert not second.changed and second.manifest == first.manifest
    assert {p: p.stat().st_mtime_ns for p in downloads.rglob("*") if p.is_file()} == files
    # a deleted file is written again, even though the data did not change
    (downloads / first.manifest["generation"] / "flaechenregister-ruhr.csv").unlink()
    assert opendata.refresh(register, downloads).changed


def test_an_objection_removes_the_parcel_from_the_next_refresh(register, downloads):
    before = opendata.refresh(register, downloads).manifest
    with register.begin() as conn:
        objected = conn.execute(text("SELECT id FROM parcel WHERE local_ref = 'B'")).scalar_one()
        publication.record_objection(conn, PLANNER, objected, clock.today(), "Eigentümer widerspricht")
    after = opendata.refresh(register, downloads)
    assert after.changed and after.manifest["count"] == 2
    assert _time(after.manifest["datenstand"]) > _time(before["datenstand"])  # when the refresh saw it leave
    assert after.manifest["issued"] == before["issued"]
    for suffix in (".gpkg", ".csv", ".geojson"):
        assert str(objected) not in set(_read(downloads, after.manifest, suffix)["id"]), suffix
    # the generation before stays for downloads under way; the one before that goes
    assert (downloads / before["generation"]).is_dir()


def test_a_changed_value_changes_the_fingerprint(register, downloads):
    before = opendata.refresh(register, downloads).manifest
    with register.begin() as conn:
        conn.execute(text("UPDATE parcel SET name = 'Neuer Name' WHERE local_ref = 'A'"))
    after = opendata.refresh(register, downloads)
    assert after.changed and after.manifest["fingerprint"] != before["fingerprint"]
    with register.connect() as conn:
        changed_at = conn.execute(text("SELECT updated_at FROM parcel WHERE local_ref = 'A'")).scalar_one()
    assert _time(after.manifest["datenstand"]) == changed_at  # the change's own time
    assert _time(after.manifest["generated_at"]) > changed_at
    assert "Neuer Name" in set(_read(downloads, after.manifest, ".csv")["name"])


def test_the_datenstand_moves_with_public_changes_only(register, downloads):
    """An edit the public cannot see (a confidential field of a published parcel, anything of an
    unpublished one, the confidential stage behind a flag that stays) leaves the Datenstand and the
    files as they are; a public change, the public Altlastverdacht flag too, moves it to its time."""
    first = opendata.refresh(register, downloads).manifest

    def edit(sql: str) -> None:
        with register.begin() as conn:
            conn.execute(text(sql))

    def changed_at(ref: str) -> dt.datetime:
        with register.connect() as conn:
            return conn.execute(text("SELECT updated_at FROM parcel WHERE local_ref = :r"), {"r": ref}).scalar_one()

    hidden = [
        "UPDATE parcel SET owner_contact = 'Neu-Z9q', internal_notes = 'geheim', owner_willing = 'ja' WHERE local_ref = 'A'",
        "UPDATE parcel SET name = 'Geheimer Name', category = 'brachflaeche', data_date = '2026-01-01', "
        "geom = ST_Translate(geom, 5, 5) WHERE local_ref = 'GEHEIM'",
    ]
    for sql in hidden:
        edit(sql)
        result = opendata.refresh(register, downloads)
        assert not result.changed and result.manifest["datenstand"] == first["datenstand"], sql
    edit("UPDATE parcel SET contamination = 'verdacht' WHERE local_ref = 'B'")  # the public flag turns on
    flagged = opendata.refresh(register, downloads).manifest
    assert _time(flagged["datenstand"]) == changed_at("B") > _time(first["datenstand"])
    edit("UPDATE parcel SET contamination = 'untersucht' WHERE local_ref = 'B'")  # the flag stays on
    same = opendata.refresh(register, downloads)
    assert not same.changed and same.manifest["datenstand"] == flagged["datenstand"]
    forced = opendata.refresh(register, downloads, force=True).manifest  # rewritten, nothing changed: it stays
    assert forced["datenstand"] == flagged["datenstand"] and forced["generation"] != flagged["generation"]
    edit("UPDATE parcel SET availability = 'kurzfristig' WHERE local_ref = 'C'")
    public = opendata.refresh(register, downloads).manifest
    assert _time(public["datenstand"]) == changed_at("C") > _time(flagged["datenstand"])
    assert "Geheimer Name" not in set(_read(downloads, public, ".csv")["name"])


def _hidden_edits(engine, count: int) -> None:
    """``count`` edits the public cannot see, each in its own transaction (its own time): a name of
    the unpublished parcel, internal notes of a published one."""
    for i in range(count):
        with engine.begin() as conn:
            conn.execute(text("UPDATE parcel SET name = :n WHERE local_ref = 'GEHEIM'"), {"n": f"Geheim {i}"})
            conn.execute(text("UPDATE parcel SET internal_notes = :n WHERE local_ref = 'A'"), {"n": f"Notiz {i}"})


def _asked(monkeypatch) -> list:
    """The parcels each reading of public versions was restricted to (None: the whole history)."""
    from landreg.sites import changes

    asked, latest = [], changes._latest
    monkeypatch.setattr(changes, "_latest", lambda conn, ids: asked.append(ids) or latest(conn, ids))
    return asked


def _updated_at(conn, ref: str) -> dt.datetime:
    return conn.execute(text("SELECT updated_at FROM parcel WHERE local_ref = :r"), {"r": ref}).scalar_one()


@pytest.mark.parametrize(
    "rounds, reads", [((64, 4096), 2), ((1, 4096), 5), ((2, 8), 3)], ids=["default", "rounds", "whole-history"]
)
def test_the_latest_change_is_found_behind_many_newer_edits_the_public_cannot_see(register, monkeypatch, rounds, reads):
    """latest_change reads the parcels of the newest versions first: 140 later edits the public
    cannot see hide nothing, in rounds that widen until the public change is reached (64, 256: all
    versions; 1, 4, 16, 64, 256), or in the whole history after the last round (2, 8); the answer is
    the one the whole history gives."""
    from landreg.sites import changes

    monkeypatch.setattr(changes, "_FIRST_ROUND", rounds[0])
    monkeypatch.setattr(changes, "_LAST_ROUND", rounds[1])
    with register.begin() as conn:
        conn.execute(text("UPDATE parcel SET availability = 'kurzfristig' WHERE local_ref = 'C'"))
    _hidden_edits(register, 70)
    asked = _asked(monkeypatch)
    with register.connect() as conn:
        public_change = _updated_at(conn, "C")
        later = text("SELECT count(*) FROM parcel_version WHERE valid_from > :t")
        assert conn.execute(later, {"t": public_change}).scalar_one() == 140
        assert changes.latest_change(conn) == public_change
        assert len(asked) == reads and (asked[-1] is None) == (rounds == (2, 8))
        assert public_change == changes._latest(conn, None)


def test_the_latest_change_among_the_newest_versions_needs_one_round(register, monkeypatch):
    """The usual case: the newest edit is public, and the first round of 64 versions (of 140 and
    more) finds it, reading the public versions of those parcels only."""
    from landreg.sites import changes

    _hidden_edits(register, 70)
    with register.begin() as conn:
        conn.execute(text("UPDATE parcel SET availability = 'kurzfristig' WHERE local_ref = 'C'"))
    with register.connect() as conn:
        whole_history = changes._latest(conn, None)
    asked = _asked(monkeypatch)
    with register.connect() as conn:
        assert changes.latest_change(conn) == _updated_at(conn, "C") == whole_history
    assert len(asked) == 1 and asked[0] is not None and len(asked[0]) <= 3  # C and the two edited


@pytest.mark.parametrize("n", [1, 5, 64, 500])
def test_the_newest_versions_are_those_of_the_view_parcel_version(register, n):
    """_newest_activity reads the view's two parts (current rows, ended versions) each by its index
    rather than the view itself: its parcels and its bound are those the view's own newest
    versions give, so the two cannot drift apart unnoticed."""
    from landreg.sites import changes

    _hidden_edits(register, 20)
    with register.begin() as conn:  # retired: its current row leaves the view, its ended versions stay
        conn.execute(
            text(
                "UPDATE parcel SET retired_at = now(), retired_by = 't', retire_reason = 'bebaut' WHERE local_ref = 'C'"
            )
        )
    with register.connect() as conn:
        ids, cutoff = changes._newest_activity(conn, n)
        view = conn.execute(
            text("SELECT parcel_id::text, valid_from FROM parcel_version ORDER BY valid_from DESC LIMIT :n"), {"n": n}
        ).all()
        if len(view) < n:
            assert cutoff is None and ids == {p for p, _ in view}
        else:
            assert cutoff == view[-1][1]  # no review in this register: the versions alone bound it
            since = text("SELECT DISTINCT parcel_id::text FROM parcel_version WHERE valid_from >= :t")
            newer = {p for p, t in view if t > cutoff}
            assert newer <= ids <= set(conn.execute(since, {"t": cutoff}).scalars())  # ties at the bound either way


def test_an_approval_newer_than_every_version_is_the_latest_change(register, monkeypatch):
    """A change that waited for review dates by its approval: approved after a public change that is
    newer than every other version, it is found through the newest approvals (one version and one
    approval a round here), not through the versions."""
    from sqlalchemy.orm import Session

    from landreg import register as registry
    from landreg import review
    from landreg.sites import changes

    monkeypatch.setattr(changes, "_FIRST_ROUND", 1)
    with Session(register) as session:
        b = session.execute(text("SELECT id FROM parcel WHERE local_ref = 'B'")).scalar_one()
        registry.update(session, PLANNER, b, "*", {"name": "Gewerbepark Süd"})
        session.commit()
    _hidden_edits(register, 5)
    with register.begin() as conn:
        conn.execute(text("UPDATE parcel SET availability = 'kurzfristig' WHERE local_ref = 'C'"))
    with register.begin() as conn:
        waiting = conn.execute(text("SELECT id FROM submission WHERE state = 'wartend'")).scalars().all()
        review.approve(conn, Principal(2, "pruefung", "reviewer"), waiting)
    with register.connect() as conn:
        whole_history = changes._latest(conn, None)
    asked = _asked(monkeypatch)
    with register.connect() as conn:
        approved = conn.execute(text("SELECT max(reviewed_at) FROM submission")).scalar_one()
        assert (
            approved
            > _updated_at(conn, "C")
            == conn.execute(text("SELECT max(valid_from) FROM parcel_version")).scalar_one()
        )
        assert changes.latest_change(conn) == approved == whole_history
    assert len(asked) == 1 and asked[0] is not None


def test_a_reviewed_change_is_dated_by_its_approval_not_by_the_edit(register, downloads):
    """The public sees a planner's change when a reviewer approves it: the Datenstand stays while it
    waits and then moves to the approval's time, later than the edit."""
    from sqlalchemy.orm import Session

    from landreg import register as registry
    from landreg import review

    first = opendata.refresh(register, downloads).manifest
    with Session(register) as session:
        a = session.execute(text("SELECT id FROM parcel WHERE local_ref = 'A'")).scalar_one()
        registry.update(session, PLANNER, a, "*", {"name": "Gewerbepark Nord"})
        session.commit()
    waiting = opendata.refresh(register, downloads)
    assert not waiting.changed and waiting.manifest["datenstand"] == first["datenstand"]
    with register.begin() as conn:
        edited = conn.execute(text("SELECT updated_at FROM parcel WHERE local_ref = 'A'")).scalar_one()
        submissions = conn.execute(text("SELECT id FROM submission WHERE state = 'wartend'")).scalars().all()
        review.approve(conn, Principal(2, "pruefung", "reviewer"), submissions)
    with register.connect() as conn:
        approved = conn.execute(text("SELECT max(reviewed_at) FROM submission")).scalar_one()
    after = opendata.refresh(register, downloads).manifest
    assert _time(after["datenstand"]) == approved > edited


def test_the_command_refreshes_only_on_change(register, tmp_path):
    db = {"LANDREG_DATABASE_URL": database_url(register)}
    target = tmp_path / "offen"
    shown = landreg("opendata", "show", "--dir", str(target), **db)
    assert shown.returncode == 2 and "landreg opendata refresh" in shown.stderr
    first = landreg("opendata", "refresh", "--dir", str(target), **db)
    assert first.returncode == 0, first.stderr
    assert "3 parcels written" in first.stdout
    second = landreg("opendata", "refresh", "--dir", str(target), **db)
    assert second.returncode == 0 and "unchanged since" in second.stdout


def test_only_files_of_the_manifest_are_served(register, downloads):
    with pytest.raises(NotFound):
        opendata.download("flaechenregister-ruhr.gpkg", downloads)  # nothing produced yet
    manifest = opendata.refresh(register, downloads).manifest
    (downloads / "secret.txt").write_text("nicht öffentlich")
    with app_client(register) as client:
        for f in manifest["files"]:
            answer = client.get(f"/downloads/{f['name']}")
            assert answer.status_code == 200, f["name"]
            assert answer.headers["content-type"].split(";")[0] == f["media_type"]
            assert answer.headers["etag"] == f'"{f["sha256"]}"' and answer.headers["last-modified"]
            assert hashlib.sha256(answer.content).hexdigest() == f["sha256"]
            again = client.get(f"/downloads/{f['name']}", headers={"If-None-Match": answer.headers["etag"]})
            assert again.status_code == 304 and not again.content
        for name in (
            "unbekannt.gpkg",
            "secret.txt",
            "manifest.json",
            "..%2Fmanifest.json",
            "..%2F..%2F..%2Fetc%2Fpasswd",
            f"{manifest['generation']}%2Fflaechenregister-ruhr.gpkg",
            "%2Fetc%2Fpasswd",
        ):
            answer = client.get(f"/downloads/{name}")
            assert answer.status_code == 404, name
            assert "nicht öffentlich" not in answer.text and "root:" not in answer.text
        assert client.get("/downloads/../manifest.json").status_code == 404


def test_get_requests_never_produce_files(register, downloads):
    with app_client(register) as client:
        page = client.get("/downloads")
        assert page.status_code == 200 and "landreg opendata refresh" in page.text
        assert client.get("/downloads?lang=en").text.count("No files have been produced yet") == 1
        assert client.get("/catalog.jsonld").status_code == 404
        assert client.get("/downloads/flaechenregister-ruhr.gpkg").status_code == 404
    assert not downloads.exists()


_MANDATORY = """
PREFIX dcat: <http://www.w3.org/ns/dcat#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX dcatde: <http://dcat-ap.de/def/dcatde/>
PREFIX foaf: <http://xmlns.com/foaf/0.1/>
PREFIX vcard: <http://www.w3.org/2006/vcard/ns#>
SELECT ?dataset ?title ?publisherName ?contributor ?licence ?attribution ?modified ?issued ?theme
       ?spatial ?contact ?email ?start ?end WHERE {
  ?catalog a dcat:Catalog ; dcat:dataset ?dataset ; dct:title ?catalogTitle ; dct:publisher ?p .
  ?dataset a dcat:Dataset ; dct:title ?title ; dct:description ?description ; dct:publisher ?publisher ;
    dcatde:contributorID ?contributor ; dct:license ?licence ; dcatde:licenseAttributionByText ?attribution ;
    dct:modified ?modified ; dct:issued ?issued ; dcat:theme ?theme ; dct:spatial ?spatial ;
    dcat:contactPoint ?contact ; dct:temporal ?period .
  ?publisher foaf:name ?publisherName .
  ?contact vcard:fn ?fn ; vcard:hasEmail ?email .
  ?period dcat:startDate ?start ; dcat:endDate ?end .
  FILTER (lang(?title) = "de")
}"""

_DISTRIBUTIONS = """
PREFIX dcat: <http://www.w3.org/ns/dcat#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX dcatde: <http://dcat-ap.de/def/dcatde/>
SELECT ?distribution ?access ?download ?format ?media ?licence ?attribution ?modified ?size WHERE {
  ?dataset dcat:distribution ?distribution .
  ?distribution a dcat:Distribution ; dcat:accessURL ?access ; dcat:downloadURL ?download ; dct:format ?format ;
    dcat:mediaType ?media ; dct:license ?licence ; dcatde:licenseAttributionByText ?attribution ;
    dct:modified ?modified ; dcat:byteSize ?size .
}"""


def test_the_catalogue_is_dcat_ap_de_with_every_mandatory_property(register, downloads):
    manifest = opendata.refresh(register, downloads).manifest
    with app_client(register) as client:
        answer = client.get("/catalog.jsonld")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/ld+json"
        graph = rdflib.Graph().parse(data=answer.text, format="json-ld", base="http://testserver/")
        rows = list(graph.query(_MANDATORY))
        assert rows, "a mandatory property of the dataset is missing"
        row = rows[0]
        assert str(row.licence) == "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
        assert str(row.attribution) == manifest["attribution"]
        assert str(row.publisherName) == "Regionalverband Ruhr"
        assert str(row.theme).startswith("http://publications.europa.eu/resource/authority/data-theme/")
        assert str(row.email).startswith("mailto:")
        assert row.modified.toPython() == dt.datetime.fromisoformat(manifest["datenstand"])
        assert (str(row.start), str(row.end)) == ("2025-01-01", "2025-03-01")
        distributions = {str(r.download): r for r in graph.query(_DISTRIBUTIONS)}
        assert set(distributions) == {f"http://testserver/downloads/{f['name']}" for f in manifest["files"]}
        for f in manifest["files"]:
            d = distributions[f"http://testserver/downloads/{f['name']}"]
            assert str(d.media).endswith(f["media_type"]) and int(d.size) == f["size"]
            assert str(d.format).startswith("http://publications.europa.eu/resource/authority/file-type/")
            # every download URL of the catalogue answers with its file
            assert client.get(str(d.download).removeprefix("http://testserver")).status_code == 200
        assert "Kontakt-Z9q" not in answer.text
