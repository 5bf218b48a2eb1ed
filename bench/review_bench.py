"""Review benchmark: what deriving "public" from notices, objections and review costs the public API.

Since review, an anonymous caller sees the latest *approved* version of each parcel: the current
row of a parcel without a waiting change, the approved version from the history for one with a
change waiting (``landreg.access.visible_rows``, a UNION ALL). This compares, on the same database
in the same run, landreg as it is with landreg at :data:`BASELINE` (public = published, no review),
each in its own uvicorn process from its own checkout (a git worktree of the baseline in
bench/cache), requests alternating between them: items (bbox, CQL2, single feature; 1 and 8
clients) and tiles (z10, z13, z16; the tile cache, which the baseline did not have, is off, so
both generate every tile). 1 % of the parcels have a change waiting for review (a
busier review queue than a region would let grow).

    python bench/review_bench.py --size 1000000
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import httpx
from api_bench import _port, _start, measure
from common import (
    ROOT,
    VENV_BIN,
    BenchDatabase,
    Report,
    load_parcels,
    markdown_table,
    run_checked,
    stats,
    stop_servers,
    vacuum,
)
from maps_bench import tile_set, time_http
from sqlalchemy import create_engine, text

#: The last commit before review: the public view read the parcel table's current rows.
BASELINE = "094ee77"
WORKTREE = ROOT / "bench" / "cache" / f"baseline-{BASELINE}"
PENDING_SHARE = 0.01


def _worktree() -> str:
    if not (WORKTREE / "api" / "app.py").exists():
        WORKTREE.parent.mkdir(parents=True, exist_ok=True)
        run_checked(["git", "-C", str(ROOT), "worktree", "add", "--force", "--detach", str(WORKTREE), BASELINE],
                    300, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    return str(WORKTREE)


def make_pending(url: str, share: float) -> int:
    """Changes waiting for review on ``share`` of the public parcels, as a planner's edits leave them:
    the parcel's new version, its old one in the history, a submission and ``parcel_pending``, the
    new version scored and the approved one too (migration 0041)."""
    from landreg.scoring.engine import rescore, rescore_approved

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL landreg.locations_checked = 'on'"))
        n = conn.execute(
            text("""
            WITH chosen AS (
                SELECT id FROM parcel WHERE public_since <= current_date AND retired_at IS NULL
                 ORDER BY md5(id::text) LIMIT (SELECT round(count(*) * :share) FROM parcel)
            ), changed AS (
                UPDATE parcel p SET name = coalesce(p.name, '') || ' (geändert)', updated_by = 'planer.bench'
                  FROM chosen c WHERE p.id = c.id RETURNING p.id, p.version, p.ags
            ), waiting AS (
                INSERT INTO parcel_pending (parcel_id, approved_version, geom)
                SELECT c.id, c.version - 1, p.geom FROM changed c JOIN parcel p ON p.id = c.id  -- outline unchanged
                RETURNING parcel_id
            )
            SELECT count(*) FROM waiting
        """),
            {"share": share},
        ).scalar_one()
        submission = conn.execute(
            text("""INSERT INTO submission (kind, ags, actor) VALUES ('import', ARRAY['05913000']::char(8)[], 'planer.bench')
                    RETURNING id""")
        ).scalar_one()
        conn.execute(
            text("""INSERT INTO submission_parcel (submission_id, parcel_id, version, base_version)
                    SELECT :s, p.id, p.version, pp.approved_version FROM parcel_pending pp JOIN parcel p ON p.id = pp.parcel_id"""),
            {"s": submission},
        )
        waiting = conn.execute(text("SELECT parcel_id FROM parcel_pending")).scalars().all()
        rescore(conn, waiting)
        rescore_approved(conn, waiting)
    engine.dispose()
    return n


def run(size: int, requests: int, n_tiles: int, db: BenchDatabase | None = None, name: str | None = None) -> Report:
    own = db is None
    db = db or BenchDatabase()
    name = name or "bench_review"
    servers = []
    rows, summary = [], []
    try:
        url = load_parcels(db, name, size) if own else db.cluster.url(name)
        pending = make_pending(url, PENDING_SHARE)
        engine = create_engine(url)
        with engine.connect() as conn:
            ids = [str(i) for i in conn.execute(text(
                "SELECT id FROM parcel WHERE public_since <= current_date AND retired_at IS NULL ORDER BY id LIMIT 5000"
            )).scalars()]  # fmt: skip
        engine.dispose()
        vacuum(url)
        env = {"LANDREG_DATABASE_URL": url}
        bases = {}
        for label, checkout in (("now", str(ROOT)), ("baseline", _worktree())):
            port = _port()
            command = [
                str(VENV_BIN / "python"),
                "-m",
                "uvicorn",
                "--factory",
                "api.app:create_app",
                "--port",
                str(port),
            ]
            servers.append(_start(command + ["--log-level", "warning", "--app-dir", checkout],
                                  env | {"PYTHONPATH": checkout, "LANDREG_TILE_CACHE_MB": "0"}, port))  # fmt: skip
            bases[label] = f"http://127.0.0.1:{port}"
        for kind, label in (
            ("bbox", "items, bbox + limit 100"),
            ("cql2", "items, bbox + CQL2"),
            ("feature", "single feature"),
        ):
            for concurrency in (1, 8):
                now, before = [], []
                for _ in range(2):  # alternating, so that drift hits both alike
                    before.append(measure(bases["baseline"], "parcels", ids, kind, concurrency, requests))
                    now.append(measure(bases["now"], "parcels", ids, kind, concurrency, requests))
                ours = {k: sum(m[k] for m in now) / len(now) for k in now[0]}
                base = {k: sum(m[k] for m in before) / len(before) for k in before[0]}
                rows.append([
                    f"{label}, {concurrency} client{'s' if concurrency > 1 else ''}",
                    f"{base['median']:.1f} / {base['p95']:.1f} ms, {base['rps']:.0f} req/s",
                    f"{ours['median']:.1f} / {ours['p95']:.1f} ms, {ours['rps']:.0f} req/s",
                    f"{ours['rps'] / base['rps']:.2f}",
                ])  # fmt: skip
        with httpx.Client(timeout=120) as client:
            path = "/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}"
            for z in (10, 13, 16):
                warm, chosen = tile_set(z, 5, seed=1), tile_set(z, n_tiles, seed=2)
                measured = {"now": [], "baseline": []}
                for tileset in (warm, chosen, chosen):
                    for label in ("baseline", "now"):
                        latencies, _, app = time_http(
                            client, [bases[label] + path.format(z=t.z, x=t.x, y=t.y) for t in tileset]
                        )
                        if tileset is chosen:
                            measured[label] += app or latencies
                ours, base = stats(measured["now"]), stats(measured["baseline"])
                rows.append([
                    f"tile z{z} ({n_tiles} tiles, Server-Timing)",
                    f"{base['median']:.1f} / {base['p95']:.1f} ms",
                    f"{ours['median']:.1f} / {ours['p95']:.1f} ms",
                    f"{base['median'] / ours['median']:.2f}",
                ])  # fmt: skip
        for row in rows:
            summary.append(
                [
                    f"review: {row[0]} ({size:,} parcels, {pending:,} waiting)",
                    row[2],
                    f"before review: {row[1]}",
                    row[3],
                ]
            )
    finally:
        stop_servers(servers)
        if own:
            db.close()
    table = markdown_table(
        [
            "request (median / p95)",
            f"before review ({BASELINE})",
            "with review",
            "ratio (>1: faster than before; goal >= 0.91)",
        ],
        rows,
    )
    return Report(
        f"Review benchmark, {size:,} parcels, {pending:,} with a change waiting",
        f"python bench/review_bench.py --size {size} --requests {requests} --tiles {n_tiles}",
        table,
        summary,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--tiles", type=int, default=30)
    args = parser.parse_args()
    report = run(args.size, args.requests, args.tiles)
    print(report.table)
    print(f"written to {report.save('review')}", file=sys.stderr)


if __name__ == "__main__":
    main()
