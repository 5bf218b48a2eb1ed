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


def square_at(lonlat: tuple[float, float], width: float, height: float | None = None) -> shapely.Polygon:
    """An axis-parallel rectangle of ``width`` × ``height`` metres centred on a WGS84 point."""
    x, y = utm(*lonlat)
    height = width if height is None else height
    return shapely.box(x - width / 2, y - height / 2, x + width / 2, y + height / 2)


@contextmanager
def live_server(app):
    """The app served by uvicorn on a free loopback port, in a thread: yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
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
