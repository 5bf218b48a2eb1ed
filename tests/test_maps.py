"""The maps, rendered from a real registry: content, languages, access rights, embedding or tiles."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import shapely
from sqlalchemy import text

from landreg import fields
from landreg.scoring import ensure_default_profiles, recompute
from landreg.settings import get_settings
from tests.helpers import DORTMUND_REINOLDIKIRCHE, ESSEN_HBF, app_client, bearers, record, utm

XD, YD = utm(*DORTMUND_REINOLDIKIRCHE)
XE, YE = utm(*ESSEN_HBF)


@pytest.fixture
def world(committed_db):
    """Dortmund: 3 available commercial sites (sample data) and 1 taken up; Essen: 1 brownfield;
    one unpublished Dortmund brownfield with confidential details. All scored."""
    record(
        committed_db,
        *[
            {
                "local_ref": f"D{i}",
                "name": f"Beispiel-Gewerbefläche Dortmund {i}",
                "category": "gewerbeflaeche",
                "status": "verfuegbar",
                "availability": "kurzfristig",
                "publication_allowed": True,
                "is_sample": True,
                "geom": shapely.box(XD + 200 * i, YD, XD + 200 * i + 100, YD + 50),  # 5,000 m² each
            }
            for i in range(3)
        ],
        {
            "local_ref": "D-GONE",
            "category": "gewerbeflaeche",
            "status": "genutzt",
            "publication_allowed": True,
            "geom": shapely.box(XD, YD + 300, XD + 100, YD + 400),
        },
        {
            "local_ref": "E0",
            "name": "Zeche Essen",
            "category": "brachflaeche",
            "status": "potenzial",
            "availability": "mittelfristig",
            "publication_allowed": True,
            "geom": shapely.box(XE, YE, XE + 300, YE + 200),
        },
        {
            "local_ref": "HIDDEN",
            "name": "Geheimfläche",
            "category": "brachflaeche",
            "status": "verfuegbar",
            "availability": "kurzfristig",
            "publication_allowed": False,
            "owner_contact": "Frau Geheim, 0231 123",
            "internal_notes": "nur intern",
            "geom": shapely.box(XD, YD + 600, XD + 80, YD + 660),
        },
    )
    with committed_db.begin() as conn:
        ensure_default_profiles(conn)
    ministry = bearers(committed_db, ministry=("ministerium", "ministry"))["ministry"]
    recompute(committed_db, "test")
    with app_client(committed_db) as client:
        yield client, ministry, committed_db


def _embedded(html: str) -> list[dict]:
    """The features of every GeoJSON layer folium embedded in the page."""
    features = []
    for match in re.finditer(r"^\s*geo_json_\w+_add\((\{.*\})\);$", html, re.MULTILINE):
        features += json.loads(match.group(1))["features"]
    return features


def _config(html: str) -> dict:
    """What the page tells its script (window.LANDREG): labels, code lists, texts, URLs."""
    return json.loads(re.search(r"window\.LANDREG = (\{.*?\});</script>", html).group(1))


def _parcels(html: str) -> dict[str, dict]:
    return {f["properties"]["local_ref"]: f["properties"] for f in _embedded(html) if "local_ref" in f["properties"]}


def test_standortkarte_shows_available_public_sites_with_legend_and_sample_note(world):
    client, _, _ = world
    page = client.get("/maps/standortkarte")
    assert page.status_code == 200
    html = page.text
    assert set(_parcels(html)) == {"D0", "D1", "D2", "E0"}  # not taken up, not unpublished
    for text_de in ("Standortkarte", "Legende", "Brachfläche", "Gewerbefläche", "Beispieldaten", "Gemeindegrenzen"):
        assert text_de in html
    assert "4 Flächen gezeigt" in html
    assert "Datenstand" in html
    assert "L.control.scale" in html and "L.control.layers" in html
    for secret in ("Frau Geheim", "nur intern", "Geheimfläche", "HIDDEN", "owner_contact", "internal_notes"):
        assert secret not in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html  # draws without internet
    scores = {ref: p.get("score") for ref, p in _parcels(html).items()}
    assert scores["D0"] is not None  # the investor profile's priority, for the popup


def test_map_texts_switch_to_english(world):
    client, _, _ = world
    html = client.get("/maps/standortkarte", params={"lang": "en"}).text
    for text_en in ("Site map", "Legend", "Brownfield", "Commercial land", "Sample data", "Municipal boundaries"):
        assert text_en in html
    assert '"lang": "en"' in html


def test_filters_narrow_the_map(world):
    client, _, _ = world
    html = client.get("/maps/standortkarte", params={"category": "brachflaeche"}).text
    assert set(_parcels(html)) == {"E0"}
    html = client.get("/maps/standortkarte", params={"ags": "05913000", "min_area": "4000"}).text
    assert set(_parcels(html)) == {"D0", "D1", "D2"}
    assert set(_parcels(client.get("/maps/standortkarte", params={"min_area": "6000"}).text)) == {"E0"}
    assert _parcels(client.get("/maps/standortkarte", params={"max_area": "10"}).text) == {}
    bad = client.get("/maps/standortkarte", params={"category": "wiese"})
    assert bad.status_code == 400 and "category" in bad.json()["detail"]
    assert client.get("/maps/standortkarte", params={"zoom": "x"}).status_code == 400
    assert client.get("/maps/nope").status_code == 404


def test_many_parcels_are_drawn_from_vector_tiles_with_the_same_filter(world, monkeypatch):
    client, _, _ = world
    monkeypatch.setenv("LANDREG_MAP_EMBED_MAX", "2")
    get_settings.cache_clear()
    try:
        html = client.get("/maps/standortkarte", params={"category": "gewerbeflaeche"}).text
    finally:
        get_settings.cache_clear()
    assert _parcels(html) == {}
    assert "L.vectorGrid.protobuf" in html and "/maps/static/vendor/vectorgrid/" in html
    url = re.search(r"L\.vectorGrid\.protobuf\(\s*'([^']+)'", html).group(1)
    assert "/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}?" in url
    query = parse_qs(urlparse(url).query)
    # the tile endpoint answers that filter with exactly the parcels the map means
    params = {"filter": unquote(query["filter"][0]), "filter-lang": "cql2-json", "profile": query["profile"][0]}
    items = client.get("/collections/parcels/items", params={k: v for k, v in params.items() if k != "profile"})
    assert {f["properties"]["local_ref"] for f in items.json()["features"]} == {"D0", "D1", "D2"}
    assert "3 Flächen (Vektorkacheln)" in html
    # a tile carries what the map draws; a clicked parcel's popup reads its record from the item
    config = _config(html)
    record_url = config["recordUrl"]
    assert record_url.endswith("/collections/parcels/items/{id}?f=json")
    some = items.json()["features"][0]
    path = urlparse(record_url.replace("{id}", some["id"]))
    record = client.get(path.path, params=parse_qs(path.query)).json()
    assert record["properties"]["local_ref"] == some["properties"]["local_ref"]
    assert {"designation", "area_m2", "ags", "availability"} <= set(config["labels"])  # the record's rows
    assert config["text"]["loading"] == "lädt …" and "{reason}" in config["text"]["load_failed"]


def test_signed_in_maps_show_confidential_parcels_embedded(world, monkeypatch):
    client, ministry, _ = world
    monkeypatch.setenv("LANDREG_MAP_EMBED_MAX", "2")
    get_settings.cache_clear()
    try:
        html = client.get("/maps/standortkarte", headers=ministry).text
    finally:
        get_settings.cache_clear()
    parcels = _parcels(html)
    assert "HIDDEN" in parcels and parcels["HIDDEN"]["publication_allowed"] is False
    # the record the popup shows, by the view, but not a person's contact, free-text notes or technical numbers: a map file travels further
    assert not {"owner_contact", "internal_notes", "version"} & set(parcels["HIDDEN"])
    assert "nur intern" not in html and "Frau Geheim" not in html
    assert "L.vectorGrid" not in html  # the browser would fetch tiles and items without the token
    config = _config(html)
    assert "contamination" in config["labels"] and "contamination" in config["codes"]
    assert not {"owner_contact", "internal_notes", "version"} & set(config["labels"])


def test_embedded_parcels_carry_their_public_record_and_public_pages_no_confidential_label(world):
    """An embedded parcel's popup has no item to ask (a map written to a file has no API): it carries
    the record the view sees; a public page labels and decodes only public fields."""
    client, _, _ = world
    for lang in ("de", "en"):
        html = client.get("/maps/standortkarte", params={"lang": lang}).text
        record = _parcels(html)["D0"]
        assert {"ags", "local_ref", "area_m2", "availability", "contamination_flag", "is_sample"} <= set(record)
        assert round(record["area_m2"]) == 5000 and record["availability"] == "kurzfristig"
        assert not set(record) & {f.name for f in fields.confidential()}
        config = _config(html)
        public = {f.name for f in fields.public(fields.popup_fields())}
        assert set(config["labels"]) - {"score"} == public
        assert set(config["codes"]) <= public and "contamination" not in config["codes"]


def test_prioritaetenkarte_lists_the_top_parcels_by_score_with_their_drivers(world):
    client, _, engine = world
    html = client.get("/maps/prioritaetenkarte", params={"top": "3"}).text
    with engine.connect() as conn:
        expected = (
            conn.execute(
                text("""
            SELECT p.local_ref FROM parcel_score s JOIN parcel p ON p.id = s.parcel_id
              JOIN scoring_profile sp ON sp.id = s.profile_id AND sp.name = 'ministerium-revitalisierung'
             WHERE p.publication_allowed AND s.score IS NOT NULL ORDER BY s.score DESC, p.id LIMIT 3
        """)
            )
            .scalars()
            .all()
        )
    top = [f["properties"] for f in _embedded(html) if f["properties"].get("rank")]
    assert [p["local_ref"] for p in sorted(top, key=lambda p: p["rank"])] == expected
    assert all(p["drivers"] and p["score"] >= 0 for p in top)
    assert expected  # the profile ranks at least one public parcel here
    assert f"Top {len(expected)}" in html and "Priorität (Profil ministerium-revitalisierung)" in html
    listed = re.search(r"<ol class='lr-top'>(.*?)</ol>", html).group(1)
    assert listed.count("<li>") == len(expected)
    assert client.get("/maps/prioritaetenkarte", params={"profile": "nope"}).status_code == 400


def test_gemeindeuebersicht_sums_each_figure_per_municipality(world):
    client, _, _ = world
    html = client.get("/maps/gemeindeuebersicht").text
    municipalities = {
        f["properties"]["ags"]: f["properties"] for f in _embedded(html) if "available_ha" in f["properties"]
    }
    assert len(municipalities) == 53  # the RVR
    assert municipalities["05913000"]["available_ha"] == 1.5  # 3 x 100 m x 50 m; taken-up and hidden excluded
    assert municipalities["05113000"]["available_ha"] == 0  # status potenzial: reserve, not "verfügbar (Status)"
    assert municipalities["05113000"]["restriction_free_ha"] == 6.0  # 300 m x 200 m
    assert municipalities["05911000"]["available_ha"] == 0
    assert "verfügbar (Status), ha" in html
    free = client.get("/maps/gemeindeuebersicht", params={"metric": "restriction_free_ha"}).text
    assert "restriktionsfreie Reserve, ha" in free
    years = client.get("/maps/gemeindeuebersicht", params={"metric": "years_of_supply", "lang": "en"})
    assert years.status_code == 200 and "Years of supply" in years.text and "no data" in years.text
    assert client.get("/maps/gemeindeuebersicht", params={"metric": "beauty"}).status_code == 400


def test_flaechensicherungskarte_shows_industrial_reserves_by_status(world):
    client, _, _ = world
    html = client.get("/maps/flaechensicherungskarte").text
    assert set(_parcels(html)) == {"D0", "D1", "D2", "D-GONE"}
    assert "Genutzt (wiedergenutzt)" in html and "Andere Nutzung (Verlust)" in html


def test_cli_writes_a_self_contained_map_file(world, tmp_path):
    _, _, engine = world
    out = tmp_path / "karte.html"
    env = {"LANDREG_DATABASE_URL": engine.url.render_as_string(hide_password=False), "PATH": "/usr/bin:/bin"}
    cli = str(Path(sys.executable).parent / "landreg")
    done = subprocess.run(
        [cli, "map", "standortkarte", "-o", str(out), "--lang", "en"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    html = out.read_text(encoding="utf-8")
    assert "Site map" in html and set(_parcels(html)) == {"D0", "D1", "D2", "E0"}
    assert "<script src=" not in html and 'rel="stylesheet"' not in html  # everything inlined
    assert "L.Map" in html or "L.map(" in html
    bad = subprocess.run(
        [cli, "map", "standortkarte", "-o", str(out), "--category", "wiese"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 2 and "category: unknown wiese" in bad.stderr


def test_the_datenstand_with_survey_dates_does_not_read_the_history(conn, monkeypatch):
    """The newest survey date of the parcels shown is the Datenstand; the register's last change
    (which reads the history: before 0042 3.4 of the 3.9 s a map page took at 1M parcels) is not
    asked for."""
    import datetime as dt

    from sqlalchemy.orm import Session

    import maps.data
    from landreg.access import PUBLIC
    from landreg.parcels import create_parcel

    x, y = utm(*DORTMUND_REINOLDIKIRCHE)
    with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
        create_parcel(session, "seed", local_ref="D-2", category="bauluecke", publication_allowed=True,
                      data_date=dt.date(2031, 3, 4), geom=shapely.box(x, y, x + 40, y + 40))  # fmt: skip
        session.commit()

    def not_asked(_conn):
        raise AssertionError("the last change was read although survey dates are known")

    monkeypatch.setattr(maps.data, "latest_change", not_asked)
    summary = maps.data.Selection(PUBLIC).summary(conn)
    newest = conn.execute(text("SELECT max(data_date) FROM parcel")).scalar_one()
    assert summary["data_date"] == newest >= dt.date(2031, 3, 4)


def test_the_datenstand_of_a_public_map_is_the_last_change_the_public_saw(conn, monkeypatch):
    """Without survey dates the map's Datenstand falls back to the register's last change: for the
    public the last public change (an edit of a confidential field or one waiting for review must not
    move it), for a view that sees everything the last edit of any parcel."""
    import datetime as dt

    from sqlalchemy.orm import Session

    import maps.data
    from landreg.access import FULL, PUBLIC
    from landreg.parcels import create_parcel

    x, y = utm(*DORTMUND_REINOLDIKIRCHE)
    with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
        create_parcel(session, "seed", local_ref="D-1", category="bauluecke", publication_allowed=True,
                      internal_notes="heute geändert", geom=shapely.box(x, y, x + 40, y + 40))  # fmt: skip
        session.commit()
    seen = dt.datetime(2020, 5, 17, 9, 30, tzinfo=dt.UTC)
    monkeypatch.setattr(maps.data, "latest_change", lambda _conn: seen)
    today = conn.execute(text("SELECT CAST(max(updated_at) AS date) FROM parcel")).scalar_one()
    assert maps.data.Selection(PUBLIC).summary(conn)["data_date"] == dt.date(2020, 5, 17)
    assert maps.data.Selection(FULL).summary(conn)["data_date"] == today
