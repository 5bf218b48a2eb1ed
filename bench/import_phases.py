"""Where a large import's time goes: the importer's steps timed in process, against the write floor.

``bench/import_bench.py`` gives the totals; this one runs the default import of a generated file
in this process (``landreg.importer.import_file``, scoring left to the full run after the commit,
as ``landreg import`` does above 100,000 parcels) with each database step of the importer timed,
then that full rescoring. The reference in the same run is the write floor of ``import_bench``
(the same rows written again by one INSERT … SELECT into an emptied ``parcel`` table, rolled
back): the steps' shares say what to work on next, the floor what the write itself cannot go below.

    python bench/import_phases.py --size 1000000   # not part of `make bench`: a diagnosis

Sizes much below 20,000 make the generator's cells larger than a parcel may be (refused).
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
import time

from common import VENV_BIN, BenchDatabase, Report, markdown_table, run_measured
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


def run(size: int) -> Report:
    import landreg.importer as importer
    from landreg.db import make_engine
    from landreg.importer import load
    from landreg.scoring import recompute

    path = generate(size)
    db = BenchDatabase()
    try:
        url = db.fresh("phases")
        env = {"LANDREG_DATABASE_URL": url}
        run_measured([str(VENV_BIN / "landreg"), "migrate"], env)
        run_measured([str(VENV_BIN / "landreg"), "seed", "--count", "0"], env)
        times: collections.Counter = collections.Counter()
        for name in STEPS:
            _timed(times, load, name, f"load.{name}")
        _timed(times, importer.quality, "refresh_selected", "quality.refresh_selected (data quality, set-wise)")
        _timed(times, importer, "rescore", "scoring in the import's transaction (up to 100,000 parcels)")
        engine = make_engine(url)
        started = time.perf_counter()
        with engine.begin() as conn:
            report = importer.import_file(conn, path, importer.ImportOptions(actor="bench", score_max=100_000))
        total = time.perf_counter() - started
        if report.status != "committed":  # small sizes make cells larger than a parcel may be
            raise SystemExit(f"the import was {report.status}: {report.rejections[:3]}")
        started = time.perf_counter()
        recompute(engine, "bench")
        rescoring = time.perf_counter() - started
        engine.dispose()
        floor = write_floor(url)
        check = create_engine(url)
        with check.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM parcel").scalar_one() == report.inserted
        check.dispose()
    finally:
        db.close()
    rows = [[step, f"{seconds:.1f} s", f"{seconds / total:.0%}"] for step, seconds in times.most_common()]
    rows.append(["rest (reading and preparing rows not overlapped, report, record)",
                 f"{total - sum(times.values()):.1f} s", f"{(total - sum(times.values())) / total:.0%}"])  # fmt: skip
    rows.append([f"**import of {report.inserted:,} parcels**", f"**{total:.1f} s**", "100%"])
    rescored = "full rescoring after it (`landreg import` above 100,000 parcels; every parcel's indicators)"
    rows.append([rescored, f"{rescoring:.1f} s", ""])
    rows.append(["write floor (INSERT … SELECT of the same rows; `load.apply` / floor)", f"{floor:.1f} s",
                 f"{times['load.apply'] / floor:.2f}"])  # fmt: skip
    table = markdown_table(["step", "time", "share of the import"], rows)
    summary = [[f"import {report.inserted:,}: write / floor", f"{times['load.apply']:.1f} s", f"{floor:.1f} s",
                f"{floor / times['load.apply']:.2f}"]]  # fmt: skip
    return Report("Import phases", f"python bench/import_phases.py --size {size}", table, summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    report = run(parser.parse_args().size)
    print(report.table)
    print(f"written to {report.save('import-phases')}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
