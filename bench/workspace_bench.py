"""Workspace benchmark: the pages people use every day, at state scale.

On generated parcels (scored once), one uvicorn process serves the web workspace; a planner of the
municipality with the most parcels and the ministry are signed in through the sign-in form, as a
browser does. Measured by the server's own time (``Server-Timing: app``), median and p95:

* "Meine Flächen": the list page of the planner's municipality: first page, a filter (category
  and status), sorted by area, and a later page (target < 150 ms);
* the parcel page of a random own parcel: form, history, scores, quality, review (target < 150 ms);
* the ministry's Gemeinden dashboard and Flächenbilanz (first view and the following ones);

against a floor measured in the same run: the signed-in inbox page (session, CSRF, layout and
navigation with its badges, no parcel data), what any workspace page costs at least.

    python bench/workspace_bench.py --size 1000000
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys

import httpx
from api_bench import _port, _start
from common import (
    ROOT,
    VENV_BIN,
    BenchDatabase,
    Report,
    load_parcels,
    markdown_table,
    run_measured,
    stats,
    stop_servers,
    vacuum,
)
from sqlalchemy import create_engine, text

from landreg.users import create_user

PASSWORD = "bench-nur-zum-messen"


def _sign_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=120, follow_redirects=False)
    form = client.get("/app/login").text
    token = re.search(r'name="login_csrf" value="([^"]+)"', form).group(1)
    answer = client.post(
        "/app/login", data={"login_csrf": token, "next": "/app", "username": username, "password": PASSWORD}
    )
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"sign-in of {username} failed: {answer.status_code} {answer.text[:300]}")
    return client


def _server_ms(client: httpx.Client, path: str) -> float:
    response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
    timing = response.headers.get("Server-Timing", "")
    found = re.search(r"app;dur=([\d.]+)", timing)
    if not found:
        raise RuntimeError(f"{path}: no Server-Timing header")
    return float(found.group(1))


def _series(client: httpx.Client, paths: list[str]) -> list[float]:
    _server_ms(client, paths[0])  # warm-up of this kind of page
    return [_server_ms(client, p) for p in paths]


def run(size: int, requests: int = 30, db: BenchDatabase | None = None, name: str | None = None) -> Report:
    own = db is None
    db = db or BenchDatabase()
    name = name or "bench_workspace"
    server = None
    rows, summary = [], []
    try:
        if own:
            url = load_parcels(db, name, size)
            run_measured([str(VENV_BIN / "landreg"), "score", "--actor", "bench"], {"LANDREG_DATABASE_URL": url})
            vacuum(url)
        else:
            url = db.cluster.url(name)
        engine = create_engine(url)
        with engine.begin() as conn:
            ags, count = conn.execute(
                text("SELECT ags, count(*) FROM parcel WHERE retired_at IS NULL GROUP BY ags ORDER BY 2 DESC LIMIT 1")
            ).one()
            own_ids = [str(i) for i in conn.execute(
                text("SELECT id FROM parcel WHERE ags = :ags AND retired_at IS NULL ORDER BY md5(id::text) LIMIT :n"),
                {"ags": ags, "n": requests},
            ).scalars()]  # fmt: skip
            for username, role, where in (("planung.bench", "planner", [ags]), ("ministerium.bench", "ministry", None)):
                # a previous run's sessions refer to its user: they go first
                conn.execute(
                    text("DELETE FROM web_session WHERE user_id IN (SELECT id FROM app_user WHERE username = :u)"),
                    {"u": username},
                )
                conn.execute(text("DELETE FROM app_user WHERE username = :u"), {"u": username})
                create_user(conn, username, role, PASSWORD, ags=where)
        engine.dispose()
        port = _port()
        command = [str(VENV_BIN / "python"), "-m", "uvicorn", "--factory", "api.app:create_app", "--port", str(port)]
        server = _start(
            command + ["--log-level", "warning", "--app-dir", str(ROOT)], {"LANDREG_DATABASE_URL": url}, port
        )
        base = f"http://127.0.0.1:{port}"
        planner, ministry = _sign_in(base, "planung.bench"), _sign_in(base, "ministerium.bench")
        rng = random.Random(11)
        floor = _series(planner, ["/app/posteingang"] * requests)
        lists = {
            "Meine Flächen, first page": ["/app/flaechen"] * requests,
            "Meine Flächen, category + status filter": [
                f"/app/flaechen?category={c}&status=verfuegbar"
                for c in rng.choices(["gewerbeflaeche", "brachflaeche", "bauluecke", "industrieflaeche"], k=requests)
            ],
            "Meine Flächen, sorted by area, later page": [
                f"/app/flaechen?sort=area_m2&dir=desc&offset={rng.randrange(0, 2000, 50)}" for _ in range(requests)
            ],
            "parcel page (form, history, scores, quality, review)": [f"/app/flaechen/{i}" for i in own_ids],
        }
        measured = {label: _series(planner, paths) for label, paths in lists.items()}
        first_dashboard = _server_ms(ministry, "/app/gemeinden")
        measured["Gemeinden dashboard (ministry), after the first view"] = [
            _server_ms(ministry, "/app/gemeinden") for _ in range(max(3, requests // 5))
        ]
        first_balance = _server_ms(ministry, "/app/bilanz")
        measured["Flächenbilanz (ministry), after the first view"] = [
            _server_ms(ministry, "/app/bilanz") for _ in range(max(3, requests // 5))
        ]
        f = statistics.median(floor)
        rows.append(["floor: signed-in inbox page", f"{f:.1f}", f"{stats(floor)['p95']:.1f}", "1.0", ""])
        for label, values in measured.items():
            s = stats(values)
            target = "< 150 ms" if "Meine" in label or "parcel page" in label else ""
            rows.append([label, f"{s['median']:.1f}", f"{s['p95']:.1f}", f"{s['median'] / f:.1f}", target])
            summary.append(
                [f"workspace, {size:,} parcels ({count:,} in the planner's municipality): {label}",
                 f"median {s['median']:.0f} ms (p95 {s['p95']:.0f} ms)", f"floor {f:.0f} ms",
                 f"{f / s['median']:.2f}"]
            )  # fmt: skip
        rows.append(["Gemeinden dashboard, first view", f"{first_dashboard:.0f}", "", "", ""])
        rows.append(["Flächenbilanz, first view", f"{first_balance:.0f}", "", "", ""])
        planner.close()
        ministry.close()
    finally:
        if server is not None:
            stop_servers([server])
        if own:
            db.close()
    table = markdown_table(
        ["page", "server time median (ms)", "p95 (ms)", "÷ floor", "target"],
        rows,
    )
    return Report(
        "Workspace pages",
        f"python bench/workspace_bench.py --size {size} --requests {requests}",
        f"{size:,} parcels; server time from `Server-Timing`, {requests} requests per page kind.\n\n{table}",
        summary,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    report = run(args.size, args.requests)
    print(report.markdown())


if __name__ == "__main__":
    sys.exit(main())
