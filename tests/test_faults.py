"""Faults under load (#19): the primary restarted while planners write.

Every write is either committed whole (the parcel, its version in the history, its submission for
review) and answered 2xx, or answered with a clear 503 and left nothing; once the database is
back, writes succeed again without restarting the app. The database runs as an embedded cluster
in the test's temporary directory (the suite's shared one is never restarted); what the answers
claim is checked against the tables afterwards. A workspace form whose change was saved just
before the database went away answers its success, not a 503 that would have it saved twice.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import create_engine, event, text
from sqlalchemy.orm import Session

from landreg import alkis, migrate
from landreg.localdb import LocalCluster, find_bindir
from landreg.seed import load_municipalities
from landreg.settings import get_settings
from tests.helpers import DORTMUND_REINOLDIKIRCHE, bearers, live_server, utm
from tests.test_alkis import F101, F102, NAS
from tests.web import PASSWORD, people

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
TO_WGS84 = Transformer.from_crs(25832, 4326, always_xy=True)
#: Writer threads: each creates parcels of its own and changes them, one request at a time.
WRITERS = 6
PREFIX = "FAULT-"
#: Flurstücke of tests/test_alkis.py's NAS fixture: two that adjoin, in Essen.
K101, K102 = "05350100200101______", "053501002001020003__"


@pytest.fixture(scope="module")
def primary():
    """An embedded cluster of this module alone (it is restarted), migrated, with municipalities."""
    root = Path(tempfile.mkdtemp(prefix="landreg-faults-"))  # /tmp: a short socket path
    root.chmod(0o711)  # the service user enters it (the cluster's own directory stays closed)
    cluster = LocalCluster(root=root / "db", bindir=find_bindir(get_settings().pg_bindir), fast_unsafe=True)
    try:
        cluster.ensure_running()
        engine = create_engine(cluster.url())
        migrate.upgrade(engine)
        with engine.begin() as conn:
            load_municipalities(conn)
        engine.dispose()
        yield cluster
    finally:
        if cluster.is_running():
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def served(primary):
    """The app on that cluster alone (no replicas), and a planner's token for Dortmund."""
    from api.app import create_app

    engine = create_engine(primary.url())
    planner = bearers(engine, planner=("planer.do", "planner", ["05913000"]))["planner"]
    engine.dispose()
    with live_server(create_app(primary.url(), [])) as base:
        yield base, planner


@dataclass
class Write:
    """One write and its answer (status None: no answer at all)."""

    kind: str  # "create" or "patch"
    local_ref: str
    name: str | None  # a patch's new name, unique to it
    parcel_id: str | None
    started: float
    ended: float
    status: int | None
    body: str
    headers: dict

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def version(self) -> int:
        return int(self.headers["etag"].strip('"'))


def _feature(geometry: shapely.Geometry | None, **properties) -> dict:
    return {
        "type": "Feature",
        "geometry": None if geometry is None else shapely.geometry.mapping(shapely.transform(geometry, _to_wgs84)),
        "properties": properties,
    }


def _to_wgs84(xy):
    import numpy as np

    return np.column_stack(TO_WGS84.transform(xy[:, 0], xy[:, 1]))


def _write(client: httpx.Client, kind: str, local_ref: str, parcel_id: str | None, name: str | None, **kw) -> Write:
    started = time.monotonic()
    try:
        if kind == "create":
            answer = client.post("/collections/parcels/items", **kw)
        else:
            answer = client.patch(f"/collections/parcels/items/{parcel_id}", **kw)
        status, body, headers = answer.status_code, answer.text, dict(answer.headers)
    except httpx.HTTPError as exc:
        status, body, headers = None, f"{type(exc).__name__}: {exc}", {}
    if kind == "create" and status == 201:
        parcel_id = headers["location"].rsplit("/", 1)[-1]
    return Write(kind, local_ref, name, parcel_id, started, time.monotonic(), status, body, headers)


def _writer(base: str, planner: dict, number: int, stop: threading.Event, writes: list[Write]) -> None:
    """Create a parcel and change its name twice, again and again; after a refusal, a short pause
    and the same step again (a new reference or name: each attempt is told apart)."""
    cell_x, cell_y = X0 - 1500 + 1000 * (number % 3), Y0 - 1000 + 1000 * (number // 3)  # 1 km each
    with httpx.Client(base_url=base, headers=planner, timeout=60) as client:
        for attempt in itertools.count():
            if stop.is_set():
                return
            ref = f"{PREFIX}{number}-{attempt}"
            x, y = cell_x + 30 * (attempt % 30), cell_y + 30 * (attempt // 30)
            created = _write(
                client,
                "create",
                ref,
                None,
                None,
                json=_feature(shapely.box(x, y, x + 20, y + 20), local_ref=ref, category="bauluecke"),
            )
            writes.append(created)
            if not created.ok:
                time.sleep(0.05)
                continue
            etag, change = created.headers["etag"], 0
            while change < 2 and not stop.is_set():
                name = f"{ref} Änderung {change}.{time.monotonic_ns()}"
                changed = _write(
                    client,
                    "patch",
                    ref,
                    created.parcel_id,
                    name,
                    json=_feature(None, name=name),
                    headers={"If-Match": etag},
                )
                writes.append(changed)
                if changed.ok:
                    etag, change = changed.headers["etag"], change + 1
                else:
                    time.sleep(0.05)


def _under_write_load(base: str, planner: dict, during) -> tuple[list[Write], float, float]:
    """The writes of ``WRITERS`` threads while ``during()`` runs (after some writes, and until each
    writer has had two answered since), with the moments it began and ended."""
    writes: list[Write] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_writer, args=(base, planner, n, stop, writes)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    try:
        _wait(lambda: sum(w.ok for w in writes) >= 3 * WRITERS, 60, "the writes to get going")
        assert [w.body for w in writes if not w.ok] == []
        began = time.monotonic()
        during()
        ended = time.monotonic()
        _wait(lambda: sum(w.started > ended for w in writes) >= 4 * WRITERS, 60, "writes after the restart")
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    return list(writes), began, ended


def _wait(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _restart(cluster: LocalCluster):
    def restart() -> None:
        cluster.stop()
        cluster.start()

    return restart


def test_a_primary_restarted_under_write_load_leaves_every_write_whole_or_refused(served, primary):
    base, planner = served
    writes, began, ended = _under_write_load(base, planner, _restart(primary))
    refused = [w for w in writes if not w.ok]
    print(
        f"\nprimary restarted under {WRITERS} writers: {len(writes)} writes, {len(writes) - len(refused)} "
        f"committed, {len(refused)} refused (statuses {sorted({w.status for w in refused}, key=str)}), "
        f"{sum(w.started < ended and w.ended > began for w in writes)} in flight while it restarted "
        f"({ended - began:.2f} s)"
    )
    assert refused, "no write met the restart: the test did not test it"

    # a refusal is a clear 503 with a message in German and English and when to try again
    assert [(w.kind, w.status, w.body) for w in refused if w.status != 503] == []
    for w in refused:
        detail = httpx.Response(w.status, text=w.body).json()["detail"]
        assert "Datenbank" in detail and "database" in detail, detail
        assert int(w.headers["retry-after"]) > 0
    # refused only while the database was away: once it is back, writes succeed without restarting the app
    assert [w for w in refused if w.started > ended] == []
    assert {w.kind for w in writes if w.started > ended and w.ok} == {"create", "patch"}

    engine = create_engine(primary.url())
    try:
        with engine.connect() as conn:
            parcels = {
                str(r.id): r
                for r in conn.execute(
                    text("SELECT id, local_ref, version, name FROM parcel WHERE local_ref LIKE :p"), {"p": PREFIX + "%"}
                )
            }
            versions = {
                (str(r.parcel_id), r.version): r.name
                for r in conn.execute(
                    text("SELECT parcel_id, version, name FROM parcel_version WHERE local_ref LIKE :p"),
                    {"p": PREFIX + "%"},
                )
            }
            submitted = {
                (str(r.parcel_id), r.version): r.kind
                for r in conn.execute(
                    text("""SELECT sp.parcel_id, sp.version, s.kind
                              FROM submission_parcel sp JOIN submission s ON s.id = sp.submission_id
                              JOIN parcel p ON p.id = sp.parcel_id WHERE p.local_ref LIKE :p"""),
                    {"p": PREFIX + "%"},
                )
            }
            pending = {str(r[0]) for r in conn.execute(text("SELECT parcel_id FROM parcel_pending"))}
            empty_submissions = conn.execute(
                text(
                    "SELECT count(*) FROM submission s WHERE NOT EXISTS (SELECT FROM submission_parcel WHERE submission_id = s.id)"
                )
            ).scalar_one()
    finally:
        engine.dispose()

    # every write answered 2xx is there whole: the parcel, its version in the history, its submission
    created = [w for w in writes if w.kind == "create" and w.ok]
    unanswered = {p.local_ref for p in parcels.values()} - {w.local_ref for w in created}
    assert [(w.local_ref, w.status, w.body) for w in writes if w.local_ref in unanswered and w.kind == "create"] == []
    assert sorted(parcels) == sorted(w.parcel_id for w in created)
    for w in created:
        assert parcels[w.parcel_id].local_ref == w.local_ref
        assert (w.parcel_id, 1) in versions and submitted.get((w.parcel_id, 1)) == "anlage"
        assert w.parcel_id in pending  # a planner's parcel waits for review
    changed = [w for w in writes if w.kind == "patch" and w.ok]
    for w in changed:
        assert versions.get((w.parcel_id, w.version)) == w.name
        assert submitted.get((w.parcel_id, w.version)) == "aenderung"
    # and nothing else: each version is one answered write, no version lacks its submission or
    # parcel, no submission its version, no parcel a version
    assert len(versions) == len(created) + len(changed)
    assert set(submitted) == set(versions)
    assert {parcel_id for parcel_id, _ in versions} == set(parcels)
    assert all((parcel_id, v) in versions for parcel_id, p in parcels.items() for v in range(1, p.version + 1))
    assert empty_submissions == 0
    # every write answered otherwise left nothing
    refused_refs = {w.local_ref for w in refused if w.kind == "create"}
    assert refused_refs.isdisjoint(p.local_ref for p in parcels.values())
    assert {w.name for w in refused if w.kind == "patch"}.isdisjoint(versions.values())


def test_a_workspace_page_says_that_the_database_is_away(served, primary):
    """A signed-in person's page while the database is down: the error page, not a 500 (finding
    out who is signed in needs the database too)."""
    base, _ = served
    primary.stop()
    try:
        page = httpx.get(f"{base}/app", cookies={"landreg_session": "s" * 43}, timeout=30)
        assert page.status_code == 503 and int(page.headers["retry-after"]) > 0
        assert "text/html" in page.headers["content-type"]
        assert "Datenbank vorübergehend nicht erreichbar" in page.text
    finally:
        primary.start()
    assert httpx.get(f"{base}/app/login", timeout=30).status_code == 200


# -- a workspace form whose change was saved just before the database went away -------------------
@pytest.fixture(scope="module")
def workspace(served, primary):
    """A planner of Dortmund and Essen signed in to the workspace of :func:`served` (the client and
    the session's CSRF token), and the Flurstücke of tests/test_alkis.py (in Essen) loaded."""
    base, _ = served
    engine = create_engine(primary.url())
    people(engine, **{"faults.planung": ("planner", ["05913000", "05113000"])})
    with engine.begin() as conn:
        alkis.load(conn, NAS, "kataster")
    engine.dispose()
    with httpx.Client(base_url=base, timeout=30) as client:
        login = client.get("/app/login")
        token = re.search(r'name="login_csrf" value="([^"]+)"', login.text).group(1)
        signed_in = client.post(
            "/app/login",
            data={"username": "faults.planung", "password": PASSWORD, "login_csrf": token},
            follow_redirects=True,
        )
        assert signed_in.status_code == 200, signed_in.text
        yield client, re.search(r'name="csrf_token" value="([^"]+)"', signed_in.text).group(1)


@contextmanager
def _database_away_after_commit(cluster: LocalCluster):
    """The cluster stops right after the next commit of an ORM session (a workspace form's save),
    before the form answers: whatever the answer needs from the database after that fails. The
    cluster is started again afterwards. Yields a list that holds True once it stopped."""
    stopped: list[bool] = []

    def stop(session: Session) -> None:
        if not stopped and not session.in_nested_transaction():  # a savepoint released is no commit
            cluster.stop()
            stopped.append(True)

    event.listen(Session, "after_commit", stop)
    try:
        yield stopped
    finally:
        event.remove(Session, "after_commit", stop)
        if not cluster.is_running():
            cluster.start()


def _outline(x: float, y: float) -> str:
    """A 30 m square of EPSG:25832 as the drawing form sends it (GeoJSON in EPSG:4326)."""
    return json.dumps(shapely.geometry.mapping(shapely.transform(shapely.box(x, y, x + 30, y + 30), _to_wgs84)))


def _new_parcel(client: httpx.Client, csrf: str, ref: str, x: float, y: float) -> httpx.Response:
    data = {"csrf_token": csrf, "local_ref": ref, "category": "brachflaeche", "status": "potenzial"}
    return client.post("/app/flaechen/neu", data=data | {"geometry": _outline(x, y)})


def _parcel(primary: LocalCluster, ref: str):
    engine = create_engine(primary.url())
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT id, version, name, ST_XMin(geom) AS x FROM parcel WHERE local_ref = :r"), {"r": ref}
            ).one_or_none()
    finally:
        engine.dispose()


@pytest.mark.parametrize("form", ["new parcel", "outline", "parcel page", "flurstuecke"])
def test_a_workspace_form_whose_change_was_saved_answers_success_although_the_database_went_away(
    form, workspace, primary
):
    """Saved, then the database stops before the answer: the form answers its success (a redirect
    to a page that a reload may ask for again, or the page of the parcel of Flurstücke, read before
    the commit), not a 503 that has the person save a second time."""
    client, csrf = workspace
    ref, x, y = f"WEB-{form.replace(' ', '-')}", X0 + 2000 + 100 * len(form), Y0 + 2000
    if form in ("outline", "parcel page"):
        assert _new_parcel(client, csrf, ref, x, y).status_code == 303
    before = _parcel(primary, ref)
    with _database_away_after_commit(primary) as stopped:
        if form == "new parcel":
            answer = _new_parcel(client, csrf, ref, x, y)
        elif form == "flurstuecke":
            data = {"csrf_token": csrf, "source": "flurstuecke", "local_ref": ref, "category": "brachflaeche"}
            answer = client.post("/app/flaechen/neu", data=data | {"flurstueck": [K101, K102]})
        elif form == "outline":
            url = f"/app/flaechen/{before.id}/geometrie"
            answer = client.post(url, data={"csrf_token": csrf, "version": "1", "geometry": _outline(x + 5, y)})
        else:
            answer = client.post(f"/app/flaechen/{before.id}", data={"csrf_token": csrf, "version": "1", "name": "neu"})
        assert stopped and not primary.is_running(), "the database did not go away after the commit"
        assert answer.status_code == (200 if form == "flurstuecke" else 303), answer.text
    saved = _parcel(primary, ref)
    assert saved is not None
    if form == "flurstuecke":  # the page of the saved parcel, its area that of the Flurstücke's union
        area = re.search(r'id="created-area" data-m2="([^"]+)"', answer.text).group(1)
        assert f"angelegt={saved.id}" in answer.text and float(area) == pytest.approx(shapely.union(F101, F102).area)
        return
    location = answer.headers["location"]
    if form == "new parcel":
        assert location == f"/app/flaechen/neu?angelegt={saved.id}" and saved.version == 1
    elif form == "outline":
        assert location == f"/app/flaechen/{saved.id}/geometrie?gespeichert=2"
        assert saved.version == 2 and saved.x - before.x == pytest.approx(5, abs=0.01)
    else:
        assert location.startswith(f"/app/flaechen/{saved.id}?gespeichert=1")
        assert (saved.version, saved.name) == (2, "neu")
    assert client.get(location).status_code == 200  # the page it leads to, once the database is back
