"""All benchmarks in one run (``make bench``): landreg against its peers, side by side, at state scale.

    python bench/run.py            # 100k / 300k / 1M parcels; 25-30 minutes on 2 cores (25.0 on 2026-12-05)
    python bench/run.py --quick    # 100k parcels only; about 10 minutes

Each benchmark generates (and caches) its data, installs its peer (ogr2ogr from apt, tipg in its
own venv, geopandas from landreg's venv), measures with warm-up and repetition, and reports
ratios against the peer measured in the same run. The figures of every benchmark and one summary
table go to ``bench/results/<date>.md``; the summary is printed at the end. Until the run is complete, the
file is ``<date>-incomplete.md``, written after every step: a step that fails, or a run stopped,
keeps the figures of the steps before it (and a complete file of the same day stays).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path

import api_bench
import cells_bench
import import_bench
import maps_bench
import preview_bench
import replica_bench
import review_bench
import scoring_bench
import sites_bench
import tile_cache_bench
import workers_bench
import workspace_bench
from common import RESULTS, SUMMARY_HEADER, BenchDatabase, markdown_table


def plan(quick: bool, shared: BenchDatabase) -> list[tuple[str, Callable]]:
    """The steps; the largest dataset is loaded and scored once, by the scoring benchmark, in
    ``shared``, and the benchmarks after it measure on that database (the second table of
    ``cells`` is loaded beside it and dropped after; the standby of ``replica`` copies the cluster)."""
    if quick:
        n = 100_000
        return [
            ("import", lambda: import_bench.run([n])),
            ("scoring", lambda: scoring_bench.run(n, shared, "bench_shared")),
            ("api", lambda: api_bench.run(n, 100, shared, "bench_shared")),
            ("maps", lambda: maps_bench.run(n, 10, 3, shared, "bench_shared")),
            ("tile cache", lambda: tile_cache_bench.run(n, 50, shared, "bench_shared")),
            ("two tables", lambda: cells_bench.run(n, 100, 10, shared, "bench_shared")),
            ("sites", lambda: sites_bench.run(n, 20, 5, shared, "bench_shared")),
            ("workers", lambda: workers_bench.run(n, 200, shared, "bench_shared")),
            ("replica", lambda: replica_bench.run(n, 100, shared, "bench_shared")),
        ]
    return [
        ("import", lambda: import_bench.run([100_000, 300_000, 1_000_000])),
        *[(f"scoring {n}", lambda n=n: scoring_bench.run(n)) for n in (100_000, 300_000)],
        ("scoring 1000000", lambda: scoring_bench.run(1_000_000, shared, "bench_shared")),
        ("api", lambda: api_bench.run(1_000_000, 200, shared, "bench_shared")),
        ("maps", lambda: maps_bench.run(1_000_000, 30, 5, shared, "bench_shared")),
        ("tile cache", lambda: tile_cache_bench.run(1_000_000, 100, shared, "bench_shared")),
        ("two tables", lambda: cells_bench.run(1_000_000, 200, 30, shared, "bench_shared")),
        ("sites", lambda: sites_bench.run(1_000_000, 30, 10, shared, "bench_shared")),
        ("workers", lambda: workers_bench.run(1_000_000, 300, shared, "bench_shared")),
        ("replica", lambda: replica_bench.run(1_000_000, 200, shared, "bench_shared")),
        ("preview", lambda: preview_bench.run(1_000_000, shared, "bench_shared")),
        ("workspace", lambda: workspace_bench.run(1_000_000, 30, shared, "bench_shared")),
        # last: it leaves 1 % of the parcels with a change waiting for review
        ("review", lambda: review_bench.run(1_000_000, 200, 30, shared, "bench_shared")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k parcels only (about 10 minutes)")
    args = parser.parse_args()
    started = time.perf_counter()
    reports, timings = [], []
    out = RESULTS / f"{dt.date.today():%Y-%m-%d}{'-quick' if args.quick else ''}.md"
    # until the run is complete its file is "...-incomplete.md": a stopped run keeps a finished one of the day
    unfinished = out.with_name(f"{out.stem}-incomplete.md")
    shared = BenchDatabase()
    steps = plan(args.quick, shared)
    failed = None
    try:
        for name, step in steps:
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            try:
                reports.append(step())
            except Exception as error:  # keep what the steps before measured (an hour at 1M)
                failed = f"{name}: {type(error).__name__}: {error}"
                raise
            finally:
                timings.append(f"{name}: {time.perf_counter() - t0:.0f} s")
                # written after every step: a step that fails (or a run stopped) keeps the others' figures
                complete = len(reports) == len(steps)
                _write(
                    out if complete else unfinished,
                    args.quick,
                    reports,
                    timings,
                    time.perf_counter() - started,
                    not complete,
                    failed,
                )
                if complete:
                    unfinished.unlink(missing_ok=True)
            print(f"[bench] {name} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    finally:
        shared.close()
    print(markdown_table(SUMMARY_HEADER, [row for report in reports for row in report.summary]))
    print(f"\ntotal {(time.perf_counter() - started) / 60:.1f} min; written to {out}")


def _write(
    out: Path, quick: bool, reports: list, timings: list[str], total: float, partial: bool, failed: str | None
) -> None:
    summary = markdown_table(SUMMARY_HEADER, [row for report in reports for row in report.summary])
    state = ""
    if partial:
        state = f"**Incomplete**: {f'failed at {failed}' if failed else 'the run is still going, or was stopped'}.\n\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(
        f"# landreg benchmarks {dt.datetime.now():%Y-%m-%d %H:%M}{' (quick)' if quick else ''}\n\n{state}"
        f"`python bench/run.py{' --quick' if quick else ''}` on this machine (2 cores); total {total / 60:.1f} min "
        f"({', '.join(timings)}). Ratios compare with the peer measured in the same run; >1 means landreg is "
        f"faster or smaller.\n\n## Summary\n\n{summary}\n\n" + "\n".join(r.markdown() for r in reports)
    )


if __name__ == "__main__":
    main()
