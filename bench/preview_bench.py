"""Profile-editor preview benchmark: new weights -> new top 100 and moved count, against the floor of
a full rescoring.

On generated parcels (tessellating the RVR, scored once with ``landreg score``), for each default
profile, a series of previews with random weight changes (:func:`landreg.scoring.preview.preview`,
top 100, each in its own read-only transaction as a request of the editor has it):

* cold: the first preview after the database changed, which reads the raw values of every
  current parcel (stored indicators) and keeps them column-wise;
* warm: the following previews while the database is unchanged (target < 1 s at 1M parcels);
* after an edit: a planner's edit of one parcel committed before each preview (the kept values
  are brought up to date by reading the parcels written since, found by their rows' ``xmin``);

and the floor of a full rescoring: what saving a changed profile costs at least (scoring that one
profile from the stored indicators and writing its scores, rolled back), beside ``landreg score``
(indicators from the context layers, then every profile).

    python bench/preview_bench.py --size 1000000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
from common import VENV_BIN, BenchDatabase, Report, load_parcels, markdown_table, run_measured, stats, vacuum
from sqlalchemy import text
from sqlalchemy.orm import Session

from landreg.db import make_engine
from landreg.parcels import update_parcel
from landreg.scoring.engine import score_profile
from landreg.scoring.preview import definition_from_form, editor_fields, forget, preview
from landreg.scoring.profiles import current_profiles

TOP = 100


def _forms(profile, rng, n: int) -> list[dict[str, str]]:
    """``n`` editor forms, each moving two or three of the profile's weights to random values."""
    keys = [c.key for c in editor_fields(profile) if c.in_profile]
    forms = []
    for _ in range(n):
        chosen = rng.choice(keys, size=min(len(keys), int(rng.integers(2, 4))), replace=False)
        forms.append({f"weight.{k}": f"{rng.uniform(0, 60):.1f}" for k in chosen})
    return forms


def _preview(engine, profile, form) -> tuple[float, object]:
    with engine.connect() as conn:
        started = time.perf_counter()
        conn.execute(text("SET TRANSACTION READ ONLY"))
        draft = definition_from_form(profile, form)
        result = preview(conn, profile, draft.profile, top=TOP, notes=draft.notes)
        seconds = time.perf_counter() - started
        conn.rollback()
    return seconds, result


def _edit(engine, parcel_id, i: int) -> None:
    """A planner's edit of one parcel (re-scored at once, as every edit is), committed."""
    with Session(engine) as session:
        update_parcel(session, parcel_id, "bench", availability="kurzfristig" if i % 2 else "langfristig")
        session.commit()


def _floor(engine, profile) -> float:
    """Scoring one profile from the stored indicators and writing its scores, as saving does (rolled back)."""
    with engine.connect() as conn:
        started = time.perf_counter()
        score_profile(conn, profile, "bench")
        seconds = time.perf_counter() - started
        conn.rollback()
    return seconds


def run(size: int, db: BenchDatabase | None = None, name: str = "bench_preview", repeat: int = 10) -> Report:
    own = db is None
    db = db or BenchDatabase()
    rng = np.random.default_rng(20)
    rows, summary = [], []
    try:
        url = load_parcels(db, name, size)
        rescoring = run_measured(
            [str(VENV_BIN / "landreg"), "score", "--actor", "bench"], {"LANDREG_DATABASE_URL": url}
        )
        vacuum(url)
        engine = make_engine(url, serving=True)
        with engine.connect() as conn:
            profiles = current_profiles(conn)
            edited = list(conn.execute(text("SELECT id FROM parcel ORDER BY id LIMIT 3")).scalars())
        for profile in profiles:
            forms = _forms(profile, rng, repeat + 1 + len(edited))
            forget()
            first, result = _preview(engine, profile, forms[0])
            warm, moved, cached = [], [], []
            for form in forms[1 : repeat + 1]:
                seconds, result = _preview(engine, profile, form)
                warm.append(seconds)
                moved.append(result.moved)
                cached.append(result.cached)
            after_edit, refreshed = [], []
            for i, (parcel_id, form) in enumerate(zip(edited, forms[repeat + 1 :])):
                _edit(engine, parcel_id, i)
                seconds, result = _preview(engine, profile, form)
                after_edit.append(seconds)
                refreshed.append(result.refreshed)
            floors = [_floor(engine, profile) for _ in range(3)]
            w = stats(warm)
            rows.append(
                [
                    f"{profile.name} ({result.ranked_before:,} ranked)",
                    f"{first:.2f} s",
                    f"median {w['median']:.2f} s, p95 {w['p95']:.2f} s, max {w['max']:.2f} s",
                    f"{'all' if all(cached) else sum(cached)} of {len(cached)}",
                    f"median {statistics.median(after_edit):.2f} s, max {max(after_edit):.2f} s "
                    f"(parcels read again: {', '.join(str(r) for r in refreshed)})",
                    f"median {statistics.median(moved):,.0f}",
                    f"median {statistics.median(floors):.1f} s",
                    f"{statistics.median(floors) / w['median']:.0f}×",
                ]
            )
            summary.append(
                [
                    f"profile preview, {size:,} parcels, {profile.name} (top {TOP} + moved count; "
                    "warm / after an edit / cold)",
                    f"{w['median']:.2f} s / {statistics.median(after_edit):.2f} s / {first:.2f} s",
                    f"floor of a rescoring: {statistics.median(floors):.1f} s",
                    f"{statistics.median(floors) / w['median']:.0f}",
                ]
            )
        engine.dispose()
    finally:
        if own:
            db.close()
    table = markdown_table(
        [
            "profile",
            "first preview (cold: reads every parcel's stored values)",
            f"next {repeat} previews (warm, target < 1 s)",
            "from the kept columns",
            f"after an edit ({len(edited)} times: one parcel edited and committed, then a preview)",
            "parcels moving > 10 places",
            "floor of a rescoring (one profile from stored indicators, written; rolled back)",
            "floor / warm preview",
        ],
        rows,
    )
    table += (
        f"\n\nFull rescoring (`landreg score`: indicators from the context layers, then all "
        f"{len(rows)} profiles): {rescoring.seconds:.1f} s, {rescoring.peak_rss_mb:,.0f} MB."
    )
    return Report(
        f"Profile preview benchmark, {size:,} parcels", f"python bench/preview_bench.py --size {size}", table, summary
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=10, help="warm previews per profile")
    args = parser.parse_args()
    report = run(args.size, repeat=args.repeat)
    print(report.table)
    print(f"written to {report.save('preview')}", file=sys.stderr)


if __name__ == "__main__":
    main()
