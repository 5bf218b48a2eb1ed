"""Investor portal benchmark (#18): the site search, the exposé (HTML and PDF) and a saved search's
feed, against their targets, each computed and kept.

    python bench/sites_bench.py --size 1000000

Two landreg servers (uvicorn, one process each) on the same scored database: one with the cache
switched off (``LANDREG_TILE_CACHE_MB=0``: every answer **computed**), one as configured by default,
whose cache keeps the search pages, the feeds' matching sites and the PDF exposés as public answers
(:meth:`landreg.tilecache.TileCache.answer`) and is warmed with each URL once before it is
measured (**kept**). The limit on PDF renders per client (``LANDREG_PDF_RENDERS_PER_MINUTE``, 6)
is lifted on both: the benchmark is one client asking for many. The time is the application's own (``Server-Timing: app``), the median of the
requests, against the targets of #18: a search page with three filters sorted by score < 200 ms,
the exposé as HTML < 150 ms and as PDF < 2 s, the feed < 100 ms. The exposé's HTML page is no
public answer of the cache: on the second server it is computed as on the first (reported as such).
"""

from __future__ import annotations

import argparse
import random
import sys
from urllib.parse import urlencode

import httpx
from common import (
    ROOT,
    VENV_BIN,
    BenchDatabase,
    Report,
    free_port,
    load_parcels,
    markdown_table,
    run_measured,
    start_server,
    stats,
    stop_servers,
    vacuum,
)
from sqlalchemy import create_engine

from landreg import alerts
from landreg.sites import SiteQuery, search_sites

#: Searches with three filters each, sorted by score (the default, written out).
SEARCHES = [
    {"category": "gewerbeflaeche,industrieflaeche", "availability": "kurzfristig", "min_ha": "0.5"},
    {"category": "brachflaeche", "servicing": "erschlossen", "max_ha": "5"},
    {"category": "industrieflaeche", "availability": "kurzfristig,mittelfristig", "servicing": "erschlossen,teilweise"},
    {"category": "bauluecke", "designation": "MI,WA", "min_ha": "0.1"},
    {"availability": "kurzfristig", "servicing": "erschlossen", "min_ha": "1"},
]
#: What the cache keeps (public answers); the rest is computed on either server.
KEPT = ("search", "pdf", "feed")
TARGETS_MS = {"search": 200.0, "expose": 150.0, "pdf": 2000.0, "feed": 100.0}
LABELS = {
    "search": "search page, 3 filters, sorted by score",
    "expose": "exposé (HTML)",
    "pdf": "exposé (PDF)",
    "feed": "saved search's feed (Atom)",
}


def _server_ms(client: httpx.Client, url: str) -> float:
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
    timing = response.headers.get("server-timing", "")
    if "app;dur=" not in timing:
        raise RuntimeError(f"{url}: no Server-Timing")
    return float(timing.split("app;dur=")[1].split(",")[0])


def _prepare(url: str) -> tuple[list[str], list[str]]:
    """Offered site ids (from the core's own search) and feed tokens of saved searches, one per search."""
    engine = create_engine(url)
    with engine.connect() as conn:
        ids = [s["id"] for q in (SiteQuery(), SiteQuery(sort="size_asc")) for s in search_sites(conn, q, 100).sites]
    with engine.begin() as conn:
        tokens = [alerts.create(conn, search | {"sort": "score"})[0] for search in SEARCHES]
    engine.dispose()
    return ids, tokens


def _urls(kind: str, ids: list[str], tokens: list[str], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    if kind == "search":
        return [f"/standorte?{urlencode(SEARCHES[i % len(SEARCHES)] | {'sort': 'score'})}" for i in range(n)]
    if kind == "feed":
        return [f"/standorte/alarm/{tokens[i % len(tokens)]}.atom" for i in range(n)]
    suffix = ".pdf" if kind == "pdf" else ""
    return [f"/standorte/{rng.choice(ids)}{suffix}" for _ in range(n)]


def run(
    size: int, requests: int = 30, pdfs: int = 10, db: BenchDatabase | None = None, name: str | None = None
) -> Report:
    """``db`` and ``name``: an already loaded and scored database to use (else one is prepared here)."""
    own = db is None
    db = db or BenchDatabase()
    name = name or "bench_sites"
    servers = []
    measured: dict[tuple[str, str], dict] = {}
    try:
        if own:
            url = load_parcels(db, name, size)
            run_measured([str(VENV_BIN / "landreg"), "score"], {"LANDREG_DATABASE_URL": url})
        url = db.cluster.url(name)
        ids, tokens = _prepare(url)
        vacuum(url)
        bases = {}
        for mode, cache_mb in (("computed", "0"), ("kept", "128")):
            port = free_port()
            servers.append(start_server(
                [str(VENV_BIN / "uvicorn"), "--factory", "api.app:create_app", "--port", str(port), "--log-level", "warning"],
                {"LANDREG_DATABASE_URL": url, "PYTHONPATH": str(ROOT), "LANDREG_TILE_CACHE_MB": cache_mb}
                | {"LANDREG_PDF_RENDERS_PER_MINUTE": "0"},  # 0: no limit
                port,
                path="/ready",
            ))  # fmt: skip
            bases[mode] = f"http://127.0.0.1:{port}"
        for kind in ("search", "expose", "pdf", "feed"):
            n = pdfs if kind == "pdf" else requests
            chosen = _urls(kind, ids, tokens, n, seed=7)
            for mode in ("computed", "kept"):
                with httpx.Client(base_url=bases[mode], timeout=120) as client:
                    # warm-up: connections, templates, WeasyPrint's import; for "kept" each URL once
                    warm = sorted(set(chosen)) if mode == "kept" and kind in KEPT else []
                    for path in _urls(kind, ids, tokens, 3, seed=99) + warm:
                        _server_ms(client, path)
                    measured[(kind, mode)] = stats([_server_ms(client, path) for path in chosen])
    finally:
        stop_servers(servers)
        if own:
            db.close()
    rows, summary = [], []
    for kind, label in LABELS.items():
        target = TARGETS_MS[kind]
        for mode in ("computed", "kept"):
            m = measured[(kind, mode)]
            what = mode if kind in KEPT else f"{mode} (the page is not kept: computed)"
            figure = f"median {m['median']:.1f} ms, p95 {m['p95']:.1f} ms"
            rows.append([label, what, figure, f"< {target:.0f} ms", "yes" if m["median"] < target else "NO"])
            summary.append([
                f"sites: {label}, {mode} ({size:,} parcels)",
                figure,
                f"— (target < {target:.0f} ms)",
                f"{target / m['median']:.2f} (target ÷ median, goal > 1)",
            ])  # fmt: skip
    table = markdown_table(["request", "how", "Server-Timing", "target (median)", "met"], rows)
    return Report(
        f"Investor portal benchmark, {size:,} parcels",
        f"python bench/sites_bench.py --size {size} --requests {requests} --pdfs {pdfs}",
        table,
        summary,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30, help="requests per page and mode")
    parser.add_argument("--pdfs", type=int, default=10, help="PDFs per mode")
    args = parser.parse_args()
    report = run(args.size, args.requests, args.pdfs)
    print(report.table)
    print(f"written to {report.save('sites')}", file=sys.stderr)


if __name__ == "__main__":
    main()
