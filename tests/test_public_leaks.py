"""Nothing the public may not see reaches a public page, tile, file or catalogue.

The register holds confidential values and parcels the public may not see (never published, withdrawn,
objected to, a change waiting for review, retired), each carrying :data:`tests.routes.MARKER`
(:func:`tests.routes.build_world`, plus a retired parcel here). The open data files are produced as
``landreg opendata refresh`` does; then every public route of :func:`public_urls` is fetched without
signing in, tiles and files decoded, and none may contain the marker. To cover a new public page,
add its URLs to :func:`public_urls` (or, for a new area, a prefix to :data:`PUBLIC_PREFIXES`).
"""

from __future__ import annotations

import io
import json
import re

import mapbox_vector_tile
import morecantile
import pyogrio
import pypdf
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from landreg import opendata
from landreg.settings import get_settings
from maps.catalogue import MAPS
from tests.helpers import DORTMUND_REINOLDIKIRCHE, ESSEN_HBF, database_url, record, utm
from tests.routes import MARKER, build_world, get_routes

#: Areas whose every GET route is public and is walked with each parcel id for its path parameters
#: (the investors' site search and exposé, once they exist).
PUBLIC_PREFIXES = ("/standorte",)
#: Query strings such a route is also asked with ({REF}: the id of a parcel of the world).
PUBLIC_QUERIES = {
    "/standorte": ["?lang=en"],
    "/standorte/vergleich": ["?ids={PUB},{LUECKE}&lang=en", "?ids={PUB},{RENAMED}", "?ids={PUB},{SECRET},{RETIRED}"],
}


@pytest.fixture(scope="module")
def world(committed_engine, tmp_path_factory):
    world = build_world(committed_engine, tmp_path_factory.mktemp("upload"))
    x, y = utm(*DORTMUND_REINOLDIKIRCHE)
    record(
        committed_engine,
        dict(
            local_ref="RETIRED",
            category="gewerbeflaeche",
            publication_allowed=True,
            name=f"Fläche RETIRED {MARKER}",
            owner_contact=f"Kontakt RETIRED {MARKER}",
            geom=shapely.box(x + 2400, y, x + 2550, y + 150),
        ),
    )
    with committed_engine.begin() as conn:
        world["parcels"]["RETIRED"] = str(
            conn.execute(
                text("""UPDATE parcel SET retired_at = now(), retired_by = 't', retire_reason = 'aufgegeben',
                               retire_comment = :comment WHERE local_ref = 'RETIRED' RETURNING id"""),
                {"comment": f"Grund {MARKER}"},
            ).scalar_one()
        )
    downloads = tmp_path_factory.mktemp("downloads")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LANDREG_DOWNLOADS_DIR", str(downloads))
        get_settings.cache_clear()
        world["manifest"] = opendata.refresh(committed_engine).manifest
        yield world
    get_settings.cache_clear()


def _tiles(z: int) -> list[str]:
    tms = morecantile.tms.get("WebMercatorQuad")
    tiles = {tms.tile(*place, z) for place in (DORTMUND_REINOLDIKIRCHE, ESSEN_HBF)}
    return [f"/collections/parcels/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}" for t in sorted(tiles)]


def public_urls(app, world) -> list[str]:
    """Every public page, answer, tile and file: the list to extend with each new public route."""
    ids = list(world["parcels"].values())
    urls = [
        "/",
        "/?lang=en",
        "/?f=json",
        "/maps",
        "/maps?lang=en",
        *(f"/maps/{name}{q}" for name in MAPS for q in ("", "?lang=en", "?profile=investor-industrie")),
        "/collections",
        "/collections/parcels",
        *(f"/collections/parcels/items?limit=1000{q}" for q in ("", "&f=html", "&f=csv")),
        *(f"/collections/parcels/items/{i}{q}" for i in ids for q in ("", "?f=html", "/history")),
        *(tile + q for z in (10, 14) for tile in _tiles(z) for q in ("", "?profile=investor-industrie")),
        "/downloads",
        "/downloads?lang=en",
        *(f"/downloads/{f['name']}" for f in world["manifest"]["files"]),
        "/catalog.jsonld",
    ]
    for path, _ in get_routes(app):  # the public areas, as far as they exist yet
        if path.startswith(PUBLIC_PREFIXES):
            params = re.findall(r"{(\w+)(?::\w+)?}", path)
            template = re.sub(r"{(\w+)(?::\w+)?}", r"{\1}", path)
            urls += [template.format(**dict.fromkeys(params, i)) for i in ids] if params else [path]
            urls += [path + q.format(**world["parcels"]) for q in PUBLIC_QUERIES.get(path, [])]
    return urls


def _readable(response) -> str:
    """The answer as text to search: tiles decoded, PDFs' text extracted, GeoPackages read, and the
    raw bytes as well (a marker split by an encoding would still be found in one of them)."""
    kind = response.headers.get("content-type", "")
    raw = response.content.decode("utf-8", "replace")
    if "mapbox-vector-tile" in kind:
        return json.dumps(mapbox_vector_tile.decode(response.content), ensure_ascii=False) + raw
    if "pdf" in kind:
        return "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.content)).pages) + raw
    if "geopackage" in kind:
        return pyogrio.read_dataframe(io.BytesIO(response.content)).drop(columns="geometry").to_json() + raw
    return raw


def test_no_public_page_tile_file_or_catalogue_shows_a_marker(committed_engine, world, monkeypatch):
    monkeypatch.setenv("LANDREG_DOWNLOADS_DIR", str(opendata.downloads_dir()))
    app = create_app(database_url(committed_engine))
    leaks, failures, seen = [], [], 0
    with TestClient(app) as client:
        urls = public_urls(app, world)
        for url in urls:
            response = client.get(url)
            if response.status_code >= 500:
                failures.append(f"GET {url}: {response.status_code}")
            body = _readable(response)
            seen += response.status_code == 200
            if MARKER in body:
                at = body.index(MARKER)
                leaks.append(f"GET {url}: …{body[max(0, at - 120) : at + 20]}…")
        # the walk saw the public data (so a leak would have been found where it would show)
        csv = client.get("/downloads/flaechenregister-ruhr.csv").text
        assert "Fläche PUB" in csv and "Fläche LUECKE" in csv
        assert client.get("/collections/parcels/items?limit=1000", headers=world["auth"]["ministry"]).text.count(
            MARKER
        )  # and the marker is there for those who may see it
    assert not failures, "\n".join(failures)
    assert seen > 60, f"only {seen} of {len(urls)} answers were 200"
    assert not leaks, "\n".join(leaks[:40])


def test_the_downloads_hold_only_published_parcels(world):
    """Per file: the ids are exactly those the anonymous API lists, none of the hidden ones."""
    hidden = {world["parcels"][r] for r in ("SECRET", "WITHDRAWN", "OBJECTED", "GE-SECRET", "RETIRED")}
    target = opendata.downloads_dir() / world["manifest"]["generation"]
    for f in world["manifest"]["files"]:
        ids = set(pyogrio.read_dataframe(target / f["name"])["id"])
        assert ids and not ids & hidden, f["name"]
        assert world["parcels"]["PUB"] in ids, f["name"]
