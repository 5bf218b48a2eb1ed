"""The landreg command: clear messages instead of tracebacks, and the database subcommands."""

from __future__ import annotations

import os
import subprocess
import sys

from landreg import migrate


def landreg(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LANDREG_")} | env
    return subprocess.run(
        [sys.executable, "-m", "landreg.cli", *args], capture_output=True, text=True, env=environment, timeout=120
    )


def test_missing_postgresql_is_one_clear_message(tmp_path):
    result = landreg("db", "start", LANDREG_DATA_DIR=str(tmp_path), LANDREG_PG_BINDIR="/nonexistent")
    assert result.returncode == 2
    assert "LANDREG_PG_BINDIR=/nonexistent holds no initdb" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_of_a_cluster_not_yet_created(tmp_path):
    result = landreg("db", "status", LANDREG_DATA_DIR=str(tmp_path / "none"))
    assert result.returncode == 3 and "not created yet" in result.stdout


def test_db_url_points_at_the_socket_in_the_data_dir(tmp_path):
    result = landreg("db", "url", LANDREG_DATA_DIR=str(tmp_path))
    assert result.stdout.strip() == f"postgresql://landreg@/landreg?host={tmp_path}/run&port=5432"


def test_seed_before_migrate_says_what_to_do(make_database):
    url = make_database("landreg_cli_empty")
    result = landreg("seed", LANDREG_DATABASE_URL=url)
    assert result.returncode == 2 and "run `landreg migrate` first" in result.stderr


def test_migrate_and_seed_through_the_command(make_database):
    url = make_database("landreg_cli")
    assert f"schema at revision {migrate.head_revision()}" in landreg("migrate", LANDREG_DATABASE_URL=url).stdout
    first = landreg("seed", "--count", "40", LANDREG_DATABASE_URL=url)
    assert "loaded     40 sample parcels" in first.stdout, first.stderr
    second = landreg("seed", "--count", "40", LANDREG_DATABASE_URL=url)
    assert "kept       40 sample parcels" in second.stdout
    down = landreg("migrate", "--down", "--revision", "base", LANDREG_DATABASE_URL=url)
    assert "schema at revision base" in down.stdout


def test_the_seed_scores_its_sample_changes_waiting_for_review(make_database):
    """Their indicators were computed before there were profiles: /ready counted them unscored."""
    from sqlalchemy import create_engine

    from landreg.scoring import unscored

    url = make_database("landreg_cli_review")
    landreg("migrate", LANDREG_DATABASE_URL=url)
    seeded = landreg("seed", "--count", "600", LANDREG_DATABASE_URL=url)
    assert "sample submissions for review" in seeded.stdout, seeded.stdout + seeded.stderr
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        assert unscored.count(conn) == 0
    engine.dispose()


def test_unreachable_database_is_one_clear_message():
    result = landreg("migrate", LANDREG_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 2
    assert "Cannot reach the database" in result.stderr and "Traceback" not in result.stderr


def test_import_export_and_tokens_through_the_command(make_database, tmp_path):
    import geopandas as gpd

    from tests.helpers import DORTMUND_REINOLDIKIRCHE, square_at

    url = make_database("landreg_cli_import")
    landreg("migrate", LANDREG_DATABASE_URL=url)
    path = tmp_path / "reserven.gpkg"
    gpd.GeoDataFrame(
        {"ref": ["A", "B"], "category": ["bauluecke", "Wiese"]},
        geometry=[square_at(DORTMUND_REINOLDIKIRCHE, 40), square_at((7.47, 51.52), 40)],
        crs=25832,
    ).to_file(path)
    assert "no municipalities yet" in landreg("import", str(path), LANDREG_DATABASE_URL=url).stderr
    assert "sample parcels" not in landreg("seed", "--count", "0", LANDREG_DATABASE_URL=url).stdout

    refused = landreg("import", str(path), LANDREG_DATABASE_URL=url)
    assert refused.returncode == 1
    assert "row 2, category: unknown value 'Wiese'" in refused.stdout and "status: rejected" in refused.stdout

    kept = landreg("import", str(path), "--mode", "keep-valid", "--actor", "anna", LANDREG_DATABASE_URL=url)
    assert kept.returncode == 0 and "new 1," in kept.stdout, kept.stdout
    assert "reserven.rejected.gpkg" in kept.stdout
    listing = landreg("imports", LANDREG_DATABASE_URL=url).stdout.splitlines()
    assert "committed" in listing[1] and "rejected" in listing[2]

    out = tmp_path / "out" / "export.geojson"
    assert "1 parcels written" in landreg("export", "-o", str(out), LANDREG_DATABASE_URL=url).stdout

    no_crs = landreg("import", str(tmp_path / "missing.gpkg"), LANDREG_DATABASE_URL=url)
    assert no_crs.returncode == 2 and "no such file" in no_crs.stderr

    created = landreg(
        "token", "create", "--owner", "planer.do", "--role", "planner", "--ags", "05913000", LANDREG_DATABASE_URL=url
    )
    assert created.stdout.strip().splitlines()[-1].startswith("lr_")
    assert "planer.do" in landreg("token", "list", LANDREG_DATABASE_URL=url).stdout
    assert "revoked" in landreg("token", "revoke", "1", LANDREG_DATABASE_URL=url).stdout
