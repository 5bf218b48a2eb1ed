"""Input that no route can use is refused with a 4xx naming what to fix, never a 500 (found by a
fuzzing review of the running demo): a NUL character in an address or in a value, tokens of
forms with non-ASCII characters or sent as a file, an import encoding with a NUL character, a
mapping file nested thousands deep."""

from __future__ import annotations

import re

import pytest

from landreg import users
from landreg.importer import ImportOptions, check_options
from landreg.importer.mapping import Mapping, MappingError
from landreg.importer.refusals import InvalidOption
from tests.helpers import app_client, bearers
from tests.web import PASSWORD

ESSEN = "05113000"


@pytest.mark.parametrize(
    ("address", "named"),
    [
        ("/collections/municipalities/items/%00", "path"),
        ("/profiles/%00/ranking", "path"),
        ("/profiles/investor-industrie/ranking?category=%00", "category"),
        ("/collections/parcels/tiles/WebMercatorQuad/5/16/10?profile=a%00b", "profile"),
        ("/safeguarding/balance?dates=2024-01-01&ags=%00", "ags"),
    ],
)
def test_a_nul_character_in_the_address_is_a_400_naming_the_parameter(committed_db, address, named):
    with app_client(committed_db) as client:
        answer = client.get(address, follow_redirects=False)
    assert answer.status_code == 400, answer.text[:300]
    body = answer.json()
    assert body["field"] == named and "NUL" in body["detail"] and "bitte entfernen" in body["detail"]


def test_a_nul_character_in_a_sign_in_is_a_page_saying_so(committed_db):
    """The workspace answers with a page: its sign-in looked the name up before any check."""
    with app_client(committed_db) as client:
        token = re.search(r'name="login_csrf" value="([^"]+)"', client.get("/app/login").text).group(1)
        answer = client.post("/app/login", data={"username": "a\x00b", "password": "x", "login_csrf": token})
    assert answer.status_code == 400 and "<html" in answer.text and "NUL-Zeichen" in answer.text


@pytest.mark.parametrize("address", ["/standorte?category=%00", "/standorte?near=%00", "/standorte/vergleich?ids=%00"])
def test_the_public_site_search_answers_a_nul_character_with_its_page_not_json(committed_db, address):
    """Investors read the site search as pages: a refusal is a page in their language, as the workspace's."""
    with app_client(committed_db) as client:
        answer = client.get(address)
    assert answer.status_code == 400 and answer.headers["content-type"].startswith("text/html"), answer.text[:200]
    assert '<html lang="de"' in answer.text


def test_a_saved_searchs_feed_answers_a_refusal_as_json_for_feed_readers(committed_db):
    """Feeds are read by programs: their refusals stay JSON (api.errors.is_page_path), NUL included."""
    with app_client(committed_db) as client:
        for address in ("/standorte/alarm/%00.atom", "/standorte/alarm/kein-token.atom"):
            answer = client.get(address)
            assert 400 <= answer.status_code < 500, (address, answer.status_code)
            assert answer.headers["content-type"].startswith("application/json"), (address, answer.text[:200])


def test_a_nul_character_in_a_value_no_check_caught_is_a_400_not_a_500(committed_db):
    """The last net (api.errors): the driver refuses such text before the database sees it."""
    headers = bearers(committed_db, planner=("planer.essen", "planner", [ESSEN]))["planner"]
    with app_client(committed_db) as client:
        answer = client.post(
            "/publication/notices",
            headers=headers,
            json={"ags": ESSEN, "announced_on": "2026-01-01", "reference": "Amtsblatt\u0000 12/2026"},
        )
    assert answer.status_code == 400, answer.text[:300]
    assert "NUL" in answer.json()["detail"]


def test_form_tokens_with_non_ascii_characters_or_as_a_file_are_refused_as_expired(committed_db):
    with committed_db.begin() as conn:
        users.create_user(conn, "pruefung.rvr", "reviewer", PASSWORD)
    with app_client(committed_db) as client:
        page = client.get("/app/login")
        token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
        refused = client.post(
            "/app/login", data={"username": "pruefung.rvr", "password": PASSWORD, "login_csrf": token + "ä"}
        )
        assert refused.status_code == 403 and "abgelaufen" in refused.text
        token = re.search(r'name="login_csrf" value="([^"]+)"', client.get("/app/login").text).group(1)
        signed_in = client.post(
            "/app/login",
            data={"username": "pruefung.rvr", "password": PASSWORD, "login_csrf": token},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        for sent in ({"data": {"csrf_token": "ä"}}, {"files": {"csrf_token": ("t.txt", b"x")}}):
            answer = client.post("/app/logout", follow_redirects=False, **sent)
            assert answer.status_code == 403, answer.text[:300]
        alarm = client.post("/standorte/alarm", data={"form_token": "1.x.ä", "email": ""})
        assert alarm.status_code in (400, 403) and "abgelaufen" in alarm.text


def test_an_encoding_with_a_nul_character_is_an_unknown_encoding():
    with pytest.raises(InvalidOption) as refused:
        check_options(ImportOptions(actor="t", encoding="utf-8\x00"))
    assert refused.value.field == "encoding"
    check_options(ImportOptions(actor="t", encoding="utf-16"))  # a codec of wider units is still known


def test_a_mapping_file_nested_thousands_deep_or_too_large_is_refused(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("columns: " + "[" * 20_000 + "]" * 20_000)
    with pytest.raises(MappingError, match="nests too deeply"):
        Mapping.build(["ref"], deep, {})
    large = tmp_path / "large.yaml"
    large.write_text("columns:\n" + "".join(f"  c{i}: local_ref\n" for i in range(80_000)))
    with pytest.raises(MappingError, match="larger than 1,024 KiB"):
        Mapping.build(["ref"], large, {})


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        ('{"name": ', "application/json", "not valid JSON at character"),
        ('{"a":' * 5000 + "1" + "}" * 5000, "application/json", "nested too deeply"),
        ('{"name": "B-Plan 1"}', "text/plain", "Content-Type: application/json"),
    ],
    ids=["broken", "nested", "text-plain"],
)
def test_a_body_that_is_no_readable_json_object_is_a_400_saying_how_to_send_it(committed_db, body, content_type, words):
    headers = bearers(committed_db, planner=("planer.essen", "planner", [ESSEN]))["planner"]
    with app_client(committed_db) as client:
        answer = client.post(
            "/safeguarding/plan-checks", content=body, headers=headers | {"Content-Type": content_type}
        )
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json()["field"] == "body" and words in answer.json()["detail"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("bbox=7,51,8,52&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/25832", "bbox"),
        ("bbox=7,51,8,52&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/3857", "bbox"),
        (
            "filter=S_INTERSECTS(geometry,POLYGON((7 51,8 51,8 52,7 51)))"
            "&filter-crs=http://www.opengis.net/def/crs/EPSG/0/25832",
            "filter",
        ),
    ],
)
def test_degrees_declared_as_metres_are_refused_not_answered_with_nothing(committed_db, query, field):
    with app_client(committed_db) as client:
        answer = client.get(f"/collections/parcels/items?{query}")
        assert answer.status_code == 400, answer.text[:300]
        assert answer.json()["field"] == field and "look like degrees" in answer.json()["detail"]
        assert client.get("/collections/parcels/items?bbox=7,51,8,52").status_code == 200  # CRS84: degrees


def test_a_page_says_in_german_what_is_wrong_with_a_parameter_the_api_in_english(committed_db):
    with committed_db.begin() as conn:
        users.create_user(conn, "pruefung.rvr", "reviewer", PASSWORD)
    with app_client(committed_db) as client:
        token = re.search(r'name="login_csrf" value="([^"]+)"', client.get("/app/login").text).group(1)
        client.post("/app/login", data={"username": "pruefung.rvr", "password": PASSWORD, "login_csrf": token})
        german = client.get("/app/posteingang?page=0")
        assert german.status_code == 400 and "page: muss mindestens 1 sein" in german.text
        assert "muss eine ganze Zahl sein" in client.get("/app/posteingang?page=abc").text
        english = client.get("/app/posteingang?page=0&lang=en")
        assert english.status_code == 400 and "greater than or equal to 1" in english.text
        api = client.get("/profiles/investor-industrie/ranking?limit=0")
        assert api.status_code == 400 and "greater than or equal to 1" in api.json()["detail"]


@pytest.mark.parametrize(
    ("address", "named"),
    [
        ("/profiles/investor-industrie/ranking?limit=1&limit=500", "limit"),
        ("/collections/parcels/items?limit=1&offset=0&limit=2", "limit"),
        ("/collections/parcels/items?category=bauluecke&category=brachflaeche", "category"),
        ("/collections/parcels/tiles/WebMercatorQuad/14/5448/8531?profile=a&profile=b", "profile"),
        ("/collections/parcels/items/x?crs=a&crs=b", "crs"),  # read from the address, not declared
    ],
)
def test_a_parameter_that_takes_one_value_given_twice_is_refused_not_read_as_the_last(committed_db, address, named):
    """The framework kept the last value: ``limit=1&limit=500`` answered 500 parcels."""
    with app_client(committed_db) as client:
        answer = client.get(address)
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json()["field"] == named and "given 2 times; give it once" in answer.json()["detail"]


def test_parameters_that_take_several_values_still_take_them_and_pages_refuse_repeats_in_german(committed_db):
    with committed_db.begin() as conn:
        users.create_user(conn, "pruefung.rvr", "reviewer", PASSWORD)
    with app_client(committed_db) as client:
        assert client.get("/standorte?category=gewerbeflaeche&category=industrieflaeche").status_code == 200
        balance = client.get("/safeguarding/balance?dates=2024-01-01&category=gewerbeflaeche&category=industrieflaeche")
        assert balance.status_code == 200, balance.text[:300]
        token = re.search(r'name="login_csrf" value="([^"]+)"', client.get("/app/login").text).group(1)
        client.post("/app/login", data={"username": "pruefung.rvr", "password": PASSWORD, "login_csrf": token})
        page = client.get("/app/posteingang?page=1&page=2")
        assert page.status_code == 400 and "page: 2-mal angegeben; nur einmal angeben" in page.text
        # options these pages read from the address themselves, not from a declaration
        for address, named in (
            ("/app/gemeinden?sort=name&sort=reserve_ha", "sort"),
            ("/app/gemeinden?unreviewed=0&unreviewed=1", "unreviewed"),
            ("/app/bilanz?start=2020&start=2021", "start"),
            ("/app/bilanz?ags=05913000&ags=05911000", "ags"),
        ):
            page = client.get(address)
            assert page.status_code == 400 and f"{named}: 2-mal angegeben; nur einmal angeben" in page.text, address
        assert client.get("/app/gemeinden?ags=05913000&ags=05911000").status_code == 200  # not an option there
        assert client.get("/app/bilanz?category=gewerbeflaeche&category=industrieflaeche").status_code == 200
        # the site search re-shows its form, as for a repeat of its other options
        search = client.get("/standorte?offset=0&offset=20")
        assert search.status_code == 400 and 'id="search-error"' in search.text
        assert "nur ein Wert, nicht 2" in search.text and 'name="category"' in search.text
        maps = client.get("/maps/standortkarte?zoom=10&zoom=12")
        assert maps.status_code == 400 and maps.json()["field"] == "zoom", maps.text[:300]
        assert "given 2 times; give it once" in maps.json()["detail"]
        assert client.get("/maps/standortkarte?category=gewerbeflaeche&category=industrieflaeche").status_code == 200
