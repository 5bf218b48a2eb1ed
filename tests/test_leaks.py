"""No confidential fact reaches anyone who may not see it.

Every confidential value (owner contact, notes) and every name of a parcel the public may not see
(unpublished; published once and withdrawn since) carries a unique marker (``tests/routes.py``).
Every GET route, in every format and with its query variants, every tile and every map is walked
anonymously and as a planner of another municipality; the public export and the map files written
by the command line are read too. None may contain the marker, except a planner's own parcel's.
Values a public answer could infer a confidential value from are checked as well: no parcel
feature, tile or explanation carries a confidential field's value for a caller who may not see it.
"""

from __future__ import annotations

import json

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from landreg import fields
from tests.helpers import database_url
from tests.routes import MARKER, build_world, get_routes, path_values, urls_of
from tests.test_cli import landreg

CONFIDENTIAL = {f.name for f in fields.confidential()}
ESSEN = "05113000"


@pytest.fixture(scope="module")
def world(committed_engine, tmp_path_factory):
    return build_world(committed_engine, tmp_path_factory.mktemp("upload"))


def _own_markers(body: str) -> str:
    """The body without the markers the Essen planner may see: those of Essen's own parcel."""
    return body.replace(f"Kontakt ESSEN {MARKER}", "").replace(f"Notiz ESSEN {MARKER}", "")


def _parcel_properties(response) -> list[dict]:
    """The properties of every parcel feature or tile feature in an answer."""
    kind = response.headers.get("content-type", "")
    if "mapbox-vector-tile" in kind:
        layers = mapbox_vector_tile.decode(response.content)
        return [f["properties"] for f in layers.get("parcels", {}).get("features", [])]
    if "json" not in kind:
        return []
    body = response.json()
    features = body.get("features", [body]) if isinstance(body, dict) else []
    features = features if isinstance(features, list) else []  # e.g. a context layer's feature count
    return [f["properties"] for f in features if isinstance(f, dict) and f.get("type") == "Feature"]


def test_no_route_format_tile_or_map_gives_a_confidential_fact_away(committed_engine, world):
    app = create_app(database_url(committed_engine))
    values = path_values(world, committed_engine)
    callers = {"anonymous": {}, "planner of Essen": world["auth"]["essen"]}
    leaks, walked = [], 0
    with TestClient(app) as client:
        for path, route in get_routes(app):
            if path.startswith("/openapi") or path in ("/api", "/docs", "/redoc"):
                continue
            for url in urls_of(path, route, values, world):
                for who, headers in callers.items():
                    response = client.get(url, headers=headers)
                    walked += 1
                    body = response.text if "tile" not in response.headers.get("content-type", "") else ""
                    body += response.content.decode("utf-8", "replace") if not body else ""
                    seen = body if who == "anonymous" else _own_markers(body)
                    if MARKER in seen:
                        at = seen.index(MARKER)
                        leaks.append(f"{who} GET {url}: …{seen[max(0, at - 120) : at + 20]}…")
                    for properties in _parcel_properties(response):
                        own = who != "anonymous" and properties.get("ags") == ESSEN
                        shown = {k for k in CONFIDENTIAL & set(properties) if properties[k] is not None}
                        if shown and not own:
                            leaks.append(f"{who} GET {url}: confidential {sorted(shown)} of {properties.get('ags')}")
    assert walked > 300
    assert not leaks, "\n".join(leaks[:40])


def test_public_explanations_and_scores_infer_nothing(committed_engine, world):
    """An explanation for the public names criteria built on a confidential field only as withheld;
    the tile score is the public variant's."""
    with TestClient(create_app(database_url(committed_engine))) as client:
        for ref in ("PUB", "LUECKE", "ESSEN"):
            parcel = world["parcels"][ref]
            for name in ("investor-industrie", "ministerium-revitalisierung", "wohnen-bauluecken"):
                answer = client.get(f"/profiles/{name}/parcels/{parcel}/explanation")
                if answer.status_code == 404:  # not ranked by this profile
                    continue
                body = answer.json()
                assert body["variant"] and "owner_objection" not in body["excluded_by"]
                for c in body["criteria"]:
                    if c["key"] in ("contamination", "owner_willing"):
                        assert c["withheld"] and c["raw"] is None and c["contribution"] is None
                        assert c["normalised"] is None and c["gain_if_best"] is None
        # PUB's owner objects: the full ranking leaves it out, the public one must not
        ranked = client.get("/profiles/investor-industrie/ranking?limit=100").json()["parcels"]
        assert world["parcels"]["PUB"] in {r["parcel_id"] for r in ranked}


def test_files_for_the_public_carry_no_confidential_fact(committed_engine, world, tmp_path):
    db = {"LANDREG_DATABASE_URL": database_url(committed_engine)}
    for suffix in (".gpkg", ".geojson", ".csv", ".fgb", ".shp"):
        target = tmp_path / f"open{suffix}"
        result = landreg("export", "--public", "-o", str(target), **db)
        assert result.returncode == 0, result.stderr
        written = b"".join(p.read_bytes() for p in tmp_path.glob("open.*"))
        assert MARKER.encode() not in written, suffix
    for name in ("standortkarte", "prioritaetenkarte", "flaechensicherungskarte", "gemeindeuebersicht"):
        target = tmp_path / f"{name}.html"
        result = landreg("map", name, "-o", str(target), **db)
        assert result.returncode == 0, result.stderr
        html = target.read_text()
        assert MARKER not in html, name
        assert not {f'"{k}":' for k in ("owner_contact", "internal_notes")} & {
            s for s in (f'"{k}":' for k in CONFIDENTIAL) if s in html
        }, name


def test_the_leak_test_finds_a_planted_leak(committed_engine, world):
    """The walk above can fail: an answer that carries the marker is reported."""
    with TestClient(create_app(database_url(committed_engine))) as client:
        # the ministry sees the unpublished parcel, name and all: the marker is there to be found
        body = client.get("/collections/parcels/items?limit=100", headers=world["auth"]["ministry"]).text
    assert MARKER in body and json.loads(body)["numberMatched"] > 0


def test_public_map_popups_name_no_confidential_criterion(committed_engine, world):
    """The Prioritätenkarte lists each parcel's main drivers and weakness: for the public, never a
    criterion built on a confidential field (it would say what the contamination or the owner is)."""
    with TestClient(create_app(database_url(committed_engine))) as client:
        for lang, words in (
            ("de", ("Altlasten", "Mitwirkungsbereitschaft")),
            ("en", ("Contamination", "Owner willing")),
        ):
            for profile in ("ministerium-revitalisierung", "investor-industrie"):
                html = client.get("/maps/prioritaetenkarte", params={"profile": profile, "lang": lang}).text
                assert not [w for w in words if w in html], (profile, lang)
                ministry = client.get(
                    "/maps/prioritaetenkarte",
                    params={"profile": profile, "lang": lang},
                    headers=world["auth"]["ministry"],
                ).text
                assert any(w in ministry for w in words) or "drivers" not in ministry  # shown where allowed
