"""Walking the API: every GET route with every path parameter filled and the query strings that
reach its other branches (used by the read-only test and the leak test)."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import geopandas as gpd
import morecantile
import shapely
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.routing import Mount, Route

from landreg import alerts, clock, enquiries, publication
from landreg.access import Principal
from landreg.features import COLLECTIONS
from landreg.opendata import FORMATS
from landreg.parcels import create_parcel
from landreg.scoring import ensure_default_profiles, recompute
from landreg.seed import seed
from maps.catalogue import MAPS
from tests.helpers import DORTMUND_REINOLDIKIRCHE, ESSEN_HBF, app_client, bearers, square_at, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)

PROFILES = ("ministerium-revitalisierung", "investor-industrie", "wohnen-bauluecken")
#: In every confidential value and every name of a parcel the public may not see.
MARKER = "q7Zx"


def _parcels(session: Session) -> dict[str, str]:
    """Parcels of every kind a caller may or may not see, with confidential facts set."""
    specs = {
        # published brownfield whose owner objects: excluded by the investor profile's owner_objection
        "PUB": dict(category="brachflaeche", publication_allowed=True, owner_willing="nein", dx=0),
        "SECRET": dict(category="brachflaeche", publication_allowed=False, owner_willing="ja", dx=400),
        "WITHDRAWN": dict(category="gewerbeflaeche", publication_allowed=True, owner_willing="ja", dx=800),
        # selected and announced, but its owner objected (§ 200 (3) BauGB): not public
        "OBJECTED": dict(category="bauluecke", publication_allowed=True, owner_willing="ja", dx=1600),
        "LUECKE": dict(category="bauluecke", publication_allowed=True, owner_willing="unbekannt", dx=1200),
        # published; renamed below by its planner, a change that waits for review
        "RENAMED": dict(category="gewerbeflaeche", publication_allowed=True, owner_willing="ja", dx=2000),
        # unpublished commercial land inside the plan checked below: on Dortmund's watch list
        "GE-SECRET": dict(category="gewerbeflaeche", publication_allowed=False, owner_willing="ja", dx=-160),
    }
    ids = {}
    for ref, spec in specs.items():
        dx = spec.pop("dx")
        ids[ref] = create_parcel(
            session,
            "t",
            local_ref=ref,
            availability="kurzfristig",
            contamination="verdacht",
            owner_contact=f"Kontakt {ref} {MARKER}",
            internal_notes=f"Notiz {ref} {MARKER}",
            name=f"Fläche {ref}"
            + ("" if spec["publication_allowed"] and ref not in ("WITHDRAWN", "OBJECTED") else f" {MARKER}"),
            geom=shapely.box(X0 + dx, Y0, X0 + dx + 150, Y0 + 150),
            **spec,
        ).id
    ids["ESSEN"] = create_parcel(
        session,
        "t",
        local_ref="E-1",
        category="gewerbeflaeche",
        publication_allowed=True,
        contamination="saniert",
        owner_contact=f"Kontakt ESSEN {MARKER}",
        internal_notes=f"Notiz ESSEN {MARKER}",
        geom=square_at(ESSEN_HBF, 200),
    ).id
    return {ref: str(i) for ref, i in ids.items()}


def build_world(engine, upload_dir: Path) -> dict:
    """The data, written as the registry's owner through the ordinary paths; the ids and tokens to
    fill the routes with. Every confidential value and every name of a parcel the public may not
    see carries :data:`MARKER`, so that a leak test can search any answer for it."""
    with engine.begin() as conn:
        seed(conn, sample_count=30, sample_seed=7)  # sample parcels, stations and stops
        ensure_default_profiles(conn)
    auth = bearers(
        engine,
        planner=("planer.do", "planner", ["05913000"]),
        ministry=("ministerium", "ministry"),
        essen=("planer.essen", "planner", ["05113000"]),
    )
    with Session(engine) as session:
        ids = _parcels(session)
        session.commit()
    with engine.begin() as conn:
        planner = Principal(None, "planer.do", "planner", ("05913000",))
        publication.record_objection(conn, planner, ids["OBJECTED"], clock.today(), f"Einspruch {MARKER}")
    recompute(engine, "test")
    with engine.begin() as conn:  # a saved search (its feed), and an enquiry whose every word is confidential
        alert_token, _ = alerts.create(conn, {})
        enquiries.submit(conn, ids["PUB"], f"Name {MARKER}", f"{MARKER}@example.org", f"Frage {MARKER}")
    gpkg = upload_dir / "reserven.gpkg"
    gpd.GeoDataFrame(
        {"ref": ["DO-1"], "category": ["bauluecke"]}, geometry=[square_at((7.47, 51.52), 40)], crs=25832
    ).to_file(gpkg)
    with app_client(engine) as client:
        with gpkg.open("rb") as f:
            imported = client.post("/imports", files={"file": (gpkg.name, f)}, headers=auth["planner"])
        assert imported.status_code == 201, imported.text
        plan = {
            "name": "B-Plan 1",
            "intended_use": "WA",
            "geometry": shapely.geometry.mapping(square_at(DORTMUND_REINOLDIKIRCHE, 300)),
            "crs": 25832,
        }
        checked = client.post("/safeguarding/plan-checks", json=plan, headers=auth["planner"])
        assert checked.status_code == 201, checked.text
        time.sleep(1.1)  # an instant between the parcels' first versions and the change below
        before_change = dt.datetime.now(dt.UTC).replace(microsecond=0)
        time.sleep(1.1)
        withdrawn = f"/collections/parcels/items/{ids['WITHDRAWN']}"
        etag = client.get(withdrawn, headers=auth["planner"]).headers["ETag"]
        changed = client.patch(
            withdrawn,
            json={"type": "Feature", "properties": {"publication_allowed": False}},
            headers=auth["planner"] | {"If-Match": etag},
        )
        assert changed.status_code == 204, changed.text
        # a published parcel renamed by its planner: the change waits for review, and until then
        # nobody but Dortmund's planners (and a reviewer who asks) sees the new name
        published = f"/collections/parcels/items/{ids['RENAMED']}"
        etag = client.get(published, headers=auth["planner"]).headers["ETag"]
        renamed = client.patch(
            published,
            json={"type": "Feature", "properties": {"name": f"Fläche RENAMED ungeprüft {MARKER}"}},
            headers=auth["planner"] | {"If-Match": etag},
        )
        assert renamed.status_code == 204, renamed.text
    with engine.begin() as conn:  # a parcel without stored indicators: its explanation computes them
        ids["IMPORTED"] = str(conn.execute(text("SELECT id FROM parcel WHERE local_ref = 'DO-1'")).scalar_one())
        conn.execute(text("DELETE FROM parcel_indicator WHERE parcel_id = :id"), {"id": ids["IMPORTED"]})
        submission = conn.execute(text("SELECT max(id) FROM submission")).scalar_one()
    return {
        "parcels": ids,
        "auth": auth,
        "import_id": imported.json()["import_id"],
        "plan_check": checked.json()["id"],
        "before_change": before_change.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "submission": submission,
        "alert_token": alert_token,
    }


def get_routes(app) -> list[tuple[str, object]]:
    """Every GET route of the app and every mount, as (path, route), routers included."""
    try:  # FastAPI 0.16x keeps included routers as such; this flattens them
        from fastapi.routing import iter_route_contexts

        routes = [(c.path, c.route) for c in iter_route_contexts(app.routes)]
    except ImportError:
        routes = [(r.path, r) for r in app.routes]
    return [
        (path, r)
        for path, r in routes
        if isinstance(r, Mount) or (isinstance(r, APIRoute | Route) and "GET" in (r.methods or ()))
    ]


def _tile(z: int) -> morecantile.Tile:
    return morecantile.tms.get("WebMercatorQuad").tile(*DORTMUND_REINOLDIKIRCHE, z)


def path_values(world, engine) -> dict:
    """For each path parameter: its values, given the path and the parameters filled before it."""
    parcels = world["parcels"]
    with engine.connect() as conn:
        context = dict(
            conn.execute(text("SELECT DISTINCT ON (kind) kind, id FROM context_feature ORDER BY kind, id")).all()
        )

    def feature_ids(path, filled):
        if filled.get("collectionId", "parcels") == "parcels":  # .../parcels/items/{featureId}/history
            return list(parcels.values())
        if filled["collectionId"] == "municipalities":
            return ["05913000"]
        return [str(context.get(filled["collectionId"], 1))]

    return {
        "collectionId": lambda path, filled: ["parcels"] if "/parcels/" in path else list(COLLECTIONS),
        "featureId": feature_ids,
        "tileMatrixSetId": lambda path, filled: ["WebMercatorQuad"],
        "tileMatrix": lambda path, filled: [10, 14],
        "tileRow": lambda path, filled: [_tile(filled["tileMatrix"]).y],
        "tileCol": lambda path, filled: [_tile(filled["tileMatrix"]).x],
        "name": lambda path, filled: (
            list(MAPS)
            if path.startswith("/maps")
            else ["db-bahnhoefe"]
            if path.startswith("/context")
            else [f.name for f in FORMATS]  # the open data files (landreg.opendata)
            if path.startswith("/downloads")
            else list(PROFILES)
        ),  # a bundled context layer (landreg.seed.BUNDLED_LAYERS)
        "version": lambda path, filled: [1],
        "parcel_id": lambda path, filled: list(parcels.values()),
        "import_id": lambda path, filled: [world["import_id"]],
        "submission_id": lambda path, filled: [world["submission"]],
        "check_id": lambda path, filled: [world["plan_check"]],  # a recorded plan check (the planner's)
        # an import page's kept upload: one nobody made (the page answers 404, never 500)
        "upload_id": lambda path, filled: ["0123456789abcdef0123456789abcdef"],
        "token": lambda path, filled: [world["alert_token"]],  # a saved search's feed (landreg.alerts)
    }


#: Query strings each route is also asked with (besides none), to reach its other branches;
#: ``{plan_check}`` and ``{before_change}`` (an instant before the last change) are filled in.
QUERIES = {
    "/": ["?f=html"],
    "/conformance": ["?f=html"],
    "/collections": ["?f=html"],
    "/collections/{collectionId}": ["?f=html"],
    "/collections/{collectionId}/items": [
        "?f=html",
        "?f=csv",
        "?datetime={before_change}",
        "?filter=category%3D%27brachflaeche%27&sortby=-area_m2&crs=http://www.opengis.net/def/crs/EPSG/0/25832",
    ],
    "/collections/{collectionId}/items/{featureId}": ["?f=html", "?datetime={before_change}"],
    "/collections/{collectionId}/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}": [
        "?profile=investor-industrie"
    ],
    "/statistics": ["?by=municipality,category"],
    "/profiles/{name}/ranking": ["?ags=05913000&limit=5"],
    "/profiles/{name}/parcels/{parcel_id}/explanation": ["?lang=en"],
    "/safeguarding/balance": ["?dates=2020-01-01,2030-01-01", "?dates=2030-01-01&f=csv&ags=05913000"],
    "/maps": ["?lang=en"],
    "/maps/{name}": [
        "?profile=investor-industrie&lang=en",
        "?plan_check={plan_check}",
        "?metric=years_of_supply",
    ],
}


def urls_of(path: str, route, values: dict, world) -> list[str]:
    if isinstance(route, Mount):  # static files: one of them
        directory = Path(route.app.directory)
        first = sorted(p for p in directory.rglob("*") if p.is_file())[0]
        return [f"{path}/{first.relative_to(directory).as_posix()}"]
    path = re.sub(r"{(\w+):\w+}", r"{\1}", path)  # a converter ({id:uuid}) takes the same values
    combos: list[dict] = [{}]
    for name in re.findall(r"{(\w+)}", path):
        assert name in values, f"{path}: no value for {{{name}}}; add one to path_values"
        combos = [c | {name: v} for c in combos for v in values[name](path, c)]
    queries = [""] + [q.format(**world) for q in QUERIES.get(path, [])]
    return [path.format(**c) + q for c in combos for q in queries]
