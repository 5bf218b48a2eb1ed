"""The site search, the alert feeds and the exposé PDFs as public answers of the tile cache: computed
once, served until anything in the register changes, never older than the change (invalidation log),
and counted in the cache's byte budget together with the tiles, the least recently used dropped first."""

from __future__ import annotations

import io
import re

import shapely
from sqlalchemy.orm import Session

from landreg import alerts
from landreg.parcels import create_parcel, update_parcel
from landreg.scoring import ensure_default_profiles, recompute
from landreg.settings import get_settings
from landreg.tilecache import TileCache, TileKey, footprint
from tests.helpers import DORTMUND_REINOLDIKIRCHE, app_client, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)


def _site(engine, ref: str, i: int) -> str:
    with Session(engine) as session:
        parcel = create_parcel(
            session, "t", local_ref=ref, name=f"Standort {ref}", category="gewerbeflaeche", status="verfuegbar",
            availability="kurzfristig", servicing="erschlossen", designation="GE", publication_allowed=True,
            geom=shapely.box(X0 + i * 700, Y0, X0 + i * 700 + 250, Y0 + 250),
        )  # fmt: skip
        session.commit()
        return str(parcel.id)


def _found(html: str) -> int:
    return int(re.search(r'id="sites-count">(\d+) (Standorte gefunden|sites found)', html).group(1))


def test_a_search_is_served_from_the_cache_until_the_register_changes(committed_db):
    with committed_db.begin() as conn:
        ensure_default_profiles(conn)
    first = _site(committed_db, "GE-1", 0)
    _site(committed_db, "GE-2", 1)
    recompute(committed_db, "test")
    with committed_db.begin() as conn:
        token, _ = alerts.create(conn, {"category": "gewerbeflaeche"})
    with app_client(committed_db) as client:
        cache = client.app.state.tile_cache
        page = client.get("/standorte?category=gewerbeflaeche")
        assert page.status_code == 200 and _found(page.text) == 2 and cache.answers_kept == 1
        assert client.get("/standorte/alarm/" + token + ".atom").text.count("<entry>") == 2
        assert cache.answers_kept == 2
        assert (
            _found(
                client.get("/standorte?category=gewerbeflaeche&lang=en").text.replace(
                    "sites found", "Standorte gefunden"
                )
            )
            == 2
        )
        assert cache.answers_kept == 2  # the English page is the same answer
        client.get("/?lang=de")

        # a change anywhere drops the answers; the next page shows the change
        with Session(committed_db) as session:
            update_parcel(session, first, "t", name="Umbenannt GE-1")
            session.commit()
        again = client.get("/standorte?category=gewerbeflaeche")
        assert "Umbenannt GE-1" in again.text and _found(again.text) == 2
        _site(committed_db, "GE-3", 2)  # a new site: in the search and in the feed at once
        assert _found(client.get("/standorte?category=gewerbeflaeche").text) == 3
        assert client.get("/standorte/alarm/" + token + ".atom").text.count("<entry>") == 3


def test_without_a_cache_the_search_answers_the_same(committed_db, monkeypatch):
    monkeypatch.setenv("LANDREG_TILE_CACHE_MB", "0")
    get_settings.cache_clear()
    try:
        with committed_db.begin() as conn:
            ensure_default_profiles(conn)
        _site(committed_db, "GE-1", 0)
        with app_client(committed_db) as client:
            assert _found(client.get("/standorte").text) == 1
            assert client.app.state.tile_cache.answers_kept == 0
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_answers_count_in_the_byte_budget_with_the_tiles(conn):
    cache = TileCache(100_000, lambda z: 0)
    kept = {}
    for name in ("a", "b", "c"):  # 30 kB each: all three fit
        value, how = cache.answer(conn, name, lambda: b"x" * 30_000)
        kept[name] = value
        assert how == "miss"
    assert cache.answers_kept == 3 and 90_000 <= cache.size_bytes <= 100_000
    assert cache.answer(conn, "a", lambda: b"never")[1] == "hit"  # "a" is now the most recently used
    tile = TileKey("parcels", "public", None, 14, 8529, 5460)
    cache.tile(conn, tile, lambda: b"t" * 30_000)  # a tile of 30 kB drops the least recently used answer: "b"
    assert tile in cache and len(cache) == 1 and cache.answers_kept == 2
    assert cache.size_bytes <= 100_000
    assert cache.answer(conn, "b", lambda: b"y" * 10)[1] == "miss"
    assert cache.answer(conn, "c", lambda: b"never")[1] == "hit"
    # one that needs nearly the whole budget drops every other entry, tiles and answers alike
    cache.answer(conn, "big", lambda: b"z" * 95_000)
    assert cache.answers_kept == 1 and tile not in cache and len(cache) == 0
    # an answer that is not bytes counts by the memory its objects take: these rows more than the budget
    rows = [{"id": str(i), "name": f"Standort {i:05d}" * 5} for i in range(1000)]
    assert footprint(rows) > max(100_000, sum(len(r["name"]) for r in rows))
    assert cache.answer(conn, "rows", lambda: rows)[0] is rows
    assert cache.answers_kept == 1  # not kept
    small = [{"id": "1"}]
    cache.answer(conn, "small", lambda: small)
    assert cache.answers_kept == 2 and cache.size_bytes == 95_000 + 200 + footprint(small) + 200


def test_a_pdf_is_kept_until_its_site_or_contact_changes_and_renders_are_rationed(committed_db, monkeypatch):
    from pypdf import PdfReader

    from landreg.sites import contacts

    monkeypatch.setenv("LANDREG_PDF_RENDERS_PER_MINUTE", "2")
    get_settings.cache_clear()
    try:
        with committed_db.begin() as conn:
            ensure_default_profiles(conn)
        first, second, third = (_site(committed_db, f"GE-{i}", i) for i in range(3))

        def text_of(answer) -> str:
            assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
            return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages)

        with app_client(committed_db) as client:
            cache = client.app.state.tile_cache
            assert "Standort GE-0" in text_of(client.get(f"/standorte/{first}.pdf"))  # rendered: 1 of 2
            kept = cache.answers_kept
            for _ in range(3):  # kept: served without rendering, rationed never
                assert "Standort GE-0" in text_of(client.get(f"/standorte/{first}.pdf"))
            assert cache.answers_kept == kept
            assert client.get(f"/standorte/{second}.pdf").status_code == 200  # rendered: 2 of 2
            busy = client.get(f"/standorte/{third}.pdf")
            assert busy.status_code == 429 and int(busy.headers["retry-after"]) >= 1
            assert "höchstens 2 je Minute" in busy.text and "Sekunden" in busy.text
            english = client.get(f"/standorte/{third}.pdf?lang=en")
            assert english.status_code == 429 and "at most 2 a minute" in english.text
            client.cookies.clear()  # the language chosen
            assert client.get(f"/standorte/{first}.pdf").status_code == 200  # still kept
            client.app.state.pdf_renders = None  # a fresh ration: the minute has passed
            with Session(committed_db) as session:  # a change of the site: rendered anew, with the change
                update_parcel(session, first, "t", name="Umbenannt GE-0")
                session.commit()
            assert "Umbenannt GE-0" in text_of(client.get(f"/standorte/{first}.pdf"))
            with committed_db.begin() as conn:  # a new contact (a table the invalidation log does not watch)
                contacts.set_contact(conn, "t", "05913000", "Wirtschaftsförderung Neu", "neu@wf.example", "+49 231 1")
            assert "neu@wf.example" in text_of(client.get(f"/standorte/{first}.pdf"))
            assert client.get(f"/standorte/{first}.pdf").status_code == 200  # kept again
            assert client.get("/standorte/kein-uuid.pdf").status_code == 404
    finally:
        get_settings.cache_clear()


def test_the_ration_of_renders_is_per_client_and_refills():
    from api.limits import ClientRate

    rate = ClientRate(2)
    assert [rate.take("198.51.100.7") for _ in range(2)] == [0, 0]
    assert 1 <= rate.take("198.51.100.7") <= 30  # the next token in at most 60 / 2 s
    assert rate.take("198.51.100.8") == 0  # another client: its own bucket
    assert rate.take("::ffff:198.51.100.8") == 0 and rate.take("198.51.100.8") > 0  # IPv4 mapped: the same client
    assert [rate.take("2001:db8:1:2::1"), rate.take("2001:db8:1:2::ffff")] == [0, 0]
    assert rate.take("2001:db8:1:2:abcd::9") > 0  # one /64, one client
    assert ClientRate(0).take("198.51.100.7") == 0  # 0: no limit
