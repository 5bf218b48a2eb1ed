"""Where a large import's time goes: the importer's steps timed in process, against the write floor.

``bench/import_bench.py`` gives the totals; this one runs the default import of a generated file
in this process (``landreg.importer.import_file``, scoring left to the full run after the commit,
as ``landreg import`` does above 100,000 parcels) with each database step of the importer timed,
then that full rescoring: without and with the indicators computed by a second process during the
import (:mod:`landreg.scoring.ahead`, as ``landreg import`` does), alternately. The reference in the same run is the write floor of ``import_bench``
(the same rows written again by one INSERT … SELECT into an emptied ``parcel`` table, rolled
back): the steps' shares say what to work on next, the floor what the write itself cannot go below.
The machine's busy CPU-seconds over the import and its scoring (``/proc/stat``, every process and
the database's) divided by the cores are the least time that work can take on this machine, however
well it is spread over them.

    python bench/import_phases.py --size 1000000 --pairs 2   # not part of `make bench`: a diagnosis

Sizes much below 20,000 make the generator's cells larger than a parcel may be (refused).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import os
import sys
import time

from common import VENV_BIN, BenchDatabase, Report, cpu_busy_seconds, markdown_table, run_measured
from generate import generate
from import_bench import write_floor
from sqlalchemy import create_engine

#: The database steps of ``landreg.importer.load`` timed (and the data quality's refresh).
STEPS = ("copy_rows", "validate", "classify", "apply", "reject_duplicates", "collect", "find_missing")


def _timed(times: collections.Counter, owner, name: str, label: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            times[label] += time.perf_counter() - started

    setattr(owner, name, wrapper)


def _one(db: BenchDatabase, path, ahead: bool) -> tuple[collections.Counter, float, int, str]:
    """One default import into a fresh registry, as ``landreg import`` runs it (with or without the
    indicators computed during it), and the full rescoring after it: (step times, import, parcels, url)."""
    import landreg.importer as importer
    from landreg.db import make_engine
    from landreg.importer import load
    from landreg.scoring import recompute
    from landreg.scoring.ahead import IndicatorsAhead

    url = db.fresh("phases")
    env = {"LANDREG_DATABASE_URL": url}
    run_measured([str(VENV_BIN / "landreg"), "migrate"], env)
    run_measured([str(VENV_BIN / "landreg"), "seed", "--count", "0"], env)
    times: collections.Counter = collections.Counter()
    originals = {name: getattr(load, name) for name in STEPS}
    originals_quality, originals_rescore = importer.quality.refresh_selected, importer.rescore
    for name in STEPS:
        _timed(times, load, name, f"load.{name}")
    _timed(times, importer.quality, "refresh_selected", "quality.refresh_selected (data quality, set-wise)")
    _timed(times, importer, "rescore", "scoring in the import's transaction (up to 100,000 parcels)")
    engine = make_engine(url)
    try:
        with IndicatorsAhead(engine, SCORE_IN_IMPORT_MAX) if ahead else contextlib.nullcontext() as computing:
            options = importer.ImportOptions(actor="bench", score_max=SCORE_IN_IMPORT_MAX, ahead=computing)
            busy = cpu_busy_seconds()
            started = time.perf_counter()
            with engine.begin() as conn:
                report = importer.import_file(conn, path, options)
            total = time.perf_counter() - started
            times[BUSY_IMPORT] = cpu_busy_seconds() - busy
            if report.status != "committed":  # small sizes make cells larger than a parcel may be
                raise SystemExit(f"the import was {report.status}: {report.rejections[:3]}")
            started = time.perf_counter()
            if computing is not None:
                adopted = computing.adopt()
                times[ADOPTED] = time.perf_counter() - started
                assert adopted == report.inserted or report.inserted <= SCORE_IN_IMPORT_MAX, computing.failure
        recompute(engine, "bench")
        times[RESCORED] = time.perf_counter() - started
        times[BUSY] = cpu_busy_seconds() - busy
    finally:
        engine.dispose()
        for name, original in originals.items():
            setattr(load, name, original)
        importer.quality.refresh_selected, importer.rescore = originals_quality, originals_rescore
    return times, total, report.inserted, url


SCORE_IN_IMPORT_MAX = 100_000
ADOPTED = "of which adopting the indicators computed during the import"
RESCORED = "scoring after the commit (adoption and full rescoring)"
BUSY_IMPORT = "CPU-seconds of the import (all processes, both cores)"
BUSY = "CPU-seconds of the import with its scoring"
CORES = os.cpu_count() or 1


def run(size: int, pairs: int) -> Report:
    path = generate(size)
    db = BenchDatabase()
    results = []
    try:
        for _ in range(pairs):  # alternately: this machine's speed drifts by ±15 % between runs
            for ahead in (False, True):
                results.append((ahead, *_one(db, path, ahead)))
        floor = write_floor(results[-1][4])
        check = create_engine(results[-1][4])
        with check.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM parcel").scalar_one() == results[-1][3]
        check.dispose()
    finally:
        db.close()
    summaries = (ADOPTED, RESCORED, BUSY_IMPORT, BUSY)
    steps = list(dict.fromkeys(step for _, times, *_ in results for step in times if step not in summaries))
    names = ["with indicators computed during it" if ahead else "without" for ahead, *_ in results]
    rows = [[step, *(f"{times[step]:.1f} s" for _, times, *_ in results)] for step in steps]
    rows.append([f"**import of {results[0][3]:,} parcels**", *(f"**{total:.1f} s**" for _, _, total, *_ in results)])
    rows.append([RESCORED, *(f"{times[RESCORED]:.1f} s" for _, times, *_ in results)])
    rows.append([ADOPTED, *(f"{times[ADOPTED]:.1f} s" if ahead else "—" for ahead, times, *_ in results)])
    rows.append(
        ["**import with its scoring**", *(f"**{total + times[RESCORED]:.1f} s**" for _, times, total, *_ in results)]
    )
    rows.append(["… / write floor", *(f"{(total + times[RESCORED]) / floor:.2f}" for _, times, total, *_ in results)])
    rows.append([BUSY_IMPORT, *(f"{times[BUSY_IMPORT]:.0f} s" for _, times, *_ in results)])
    rows.append([BUSY, *(f"{times[BUSY]:.0f} s" for _, times, *_ in results)])
    rows.append(
        [
            f"… / {CORES} cores: the least time this work can take here",
            *(f"{times[BUSY] / CORES:.1f} s" for _, times, *_ in results),
        ]
    )
    table = (
        markdown_table(["step", *names], rows)
        + f"\n\nWrite floor (INSERT … SELECT of the same rows, last run's database): {floor:.1f} s."
        + "\nCPU-seconds: the machine's busy time over the step (/proc/stat), the database's included."
    )
    summary = [[f"import {results[0][3]:,} with its scoring / write floor ({name})", f"{total + times[RESCORED]:.1f} s",
                f"{floor:.1f} s", f"{floor / (total + times[RESCORED]):.2f}"]
               for name, (_, times, total, *_) in zip(names, results, strict=True)]  # fmt: skip
    return Report("Import phases", f"python bench/import_phases.py --size {size} --pairs {pairs}", table, summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=1, help="runs without and with the indicators computed ahead")
    args = parser.parse_args()
    report = run(args.size, args.pairs)
    print(report.table)
    print(f"written to {report.save('import-phases')}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
