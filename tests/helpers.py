"""Small geometry helpers for tests: places given in WGS84, turned into EPSG:25832 by pyproj."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import shapely
import uvicorn
from pyproj import Transformer

_TO_UTM = Transformer.from_crs(4326, 25832, always_xy=True)

# Well-known places (lon, lat) and the AGS of the municipality they lie in.
DORTMUND_REINOLDIKIRCHE = (7.4660, 51.5138)  # 05913000 Dortmund
ESSEN_HBF = (7.0146, 51.4513)  # 05113000 Essen
BERLIN_ALEXANDERPLATZ = (13.4132, 52.5219)  # not in NRW


def utm(lon: float, lat: float) -> tuple[float, float]:
    return _TO_UTM.transform(lon, lat)


def squares_in_dortmund(conn, count: int, prefix: str, origin: tuple[float, float], per_row: int = 100) -> None:
    """``count`` 20 m squares (Gewerbeflächen ``prefix``0, ``prefix``1, …), ``per_row`` in a row 30 m
    apart from ``origin`` (EPSG:25832) in Dortmund, written in one statement in ``conn``'s transaction
    (locations vouched for, as the importer does)."""
    from sqlalchemy import text

    conn.execute(text("SELECT set_config('landreg.locations_checked', 'on', true)"))
    conn.execute(
        text("""
        INSERT INTO parcel (ags, local_ref, category, status, geom, created_by, updated_by)
        SELECT '05913000', :prefix || i, 'gewerbeflaeche', 'verfuegbar',
               ST_Multi(ST_MakeEnvelope(:x + (i % :per_row) * 30, :y + (i / :per_row) * 30,
                                        :x + (i % :per_row) * 30 + 20, :y + (i / :per_row) * 30 + 20, 25832)),
               'test', 'test'
          FROM generate_series(0, :n - 1) AS i
    """),
        {"prefix": prefix, "x": origin[0], "y": origin[1], "n": count, "per_row": per_row},
    )


def square_at(lonlat: tuple[float, float], width: float, height: float | None = None) -> shapely.Polygon:
    """An axis-parallel rectangle of ``width`` × ``height`` metres centred on a WGS84 point."""
    x, y = utm(*lonlat)
    height = width if height is None else height
    return shapely.box(x - width / 2, y - height / 2, x + width / 2, y + height / 2)


@contextmanager
def live_server(app, keep_alive_s: int | None = None):
    """The app served by uvicorn on a free loopback port, in a thread: yields its base URL.

    Idle connections stay open ``keep_alive_s`` seconds, by default LANDREG_KEEP_ALIVE_S as with
    ``landreg serve``."""
    from landreg.settings import get_settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    keep_alive = get_settings().keep_alive_s if keep_alive_s is None else keep_alive_s
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=keep_alive)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def database_url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def record(engine, *parcels: dict, actor: str = "seed") -> None:
    """Create parcels (each a dict of ``landreg.parcels.create_parcel`` attributes) and commit."""
    from sqlalchemy.orm import Session

    from landreg.parcels import create_parcel

    with Session(engine) as session:
        for attributes in parcels:
            create_parcel(session, actor, **attributes)
        session.commit()


def bearers(engine, **tokens: tuple) -> dict[str, dict]:
    """Authorization headers of new tokens: name=(owner, role[, AGS list])."""
    from landreg.auth import create_token

    with engine.begin() as conn:
        return {name: {"Authorization": f"Bearer {create_token(conn, *spec)[1]}"} for name, spec in tokens.items()}


@contextmanager
def app_client(engine):
    """A TestClient of the application on the engine's database (lifespan run)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(database_url(engine))) as client:
        yield client
