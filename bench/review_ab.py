"""Quick A/B of the public API against the pre-review commit on an already loaded database.

`bench/review_bench.py` loads its own database and adds waiting changes; this reuses one (e.g. a
1M database kept from an earlier run) and compares only single features, items (bbox) and tiles
(z13, z16): both versions as uvicorn servers from their own checkouts (``PYTHONPATH`` set to each:
run from the baseline's directory without it, Python imports the installed, current ``landreg``),
tile cache off, alternating runs.

    python bench/review_ab.py postgresql+psycopg://landreg@/b1000000?host=/tmp/benchdb/run --runs 6
"""

from __future__ import annotations

import argparse

import httpx
from api_bench import _port, _start, measure
from common import ROOT, VENV_BIN, stats, stop_servers
from maps_bench import tile_set, time_http
from review_bench import _worktree
from sqlalchemy import create_engine, text


def _servers(url: str) -> tuple[list, dict[str, str]]:
    servers, bases = [], {}
    for label, checkout in (("now", str(ROOT)), ("baseline", _worktree())):
        port = _port()
        command = [str(VENV_BIN / "python"), "-m", "uvicorn", "--factory", "api.app:create_app", "--port", str(port),
                   "--log-level", "warning", "--app-dir", checkout]  # fmt: skip
        env = {"LANDREG_DATABASE_URL": url, "PYTHONPATH": checkout, "LANDREG_TILE_CACHE_MB": "0"}
        servers.append(_start(command, env, port))
        bases[label] = f"http://127.0.0.1:{port}"
    return servers, bases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    engine = create_engine(args.url)
    with engine.connect() as conn:
        ids = [str(i) for i in conn.execute(text(
            "SELECT id FROM parcel WHERE public_since <= current_date AND retired_at IS NULL ORDER BY id LIMIT 5000"
        )).scalars()]  # fmt: skip
    engine.dispose()
    servers, bases = _servers(args.url)
    try:
        for kind in ("feature", "bbox"):
            for concurrency in (1, 8):
                now, before = [], []
                for _ in range(args.runs):
                    before.append(measure(bases["baseline"], "parcels", ids, kind, concurrency, args.requests)["rps"])
                    now.append(measure(bases["now"], "parcels", ids, kind, concurrency, args.requests)["rps"])
                n, b = sum(now) / len(now), sum(before) / len(before)
                print(f"{kind}, {concurrency} client(s): before {b:.0f} req/s, now {n:.0f} req/s, ratio {n / b:.2f}")
        with httpx.Client(timeout=120) as client:
            path = "/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}"
            for z in (13, 16):
                warm, chosen = tile_set(z, 5, seed=1), tile_set(z, 30, seed=2)
                measured: dict[str, list] = {"now": [], "baseline": []}
                for tiles in (warm, chosen, chosen, chosen):
                    for label in ("baseline", "now"):
                        latencies, _, app = time_http(
                            client, [bases[label] + path.format(z=t.z, x=t.x, y=t.y) for t in tiles]
                        )
                        if tiles is chosen:
                            measured[label] += app or latencies
                n, b = stats(measured["now"])["median"], stats(measured["baseline"])["median"]
                print(f"tile z{z}: before {b:.1f} ms, now {n:.1f} ms (median Server-Timing), ratio {b / n:.2f}")
    finally:
        stop_servers(servers)


if __name__ == "__main__":
    main()
