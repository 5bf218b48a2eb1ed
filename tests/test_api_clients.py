"""Real clients against a live server on loopback: GDAL's OAPIF driver and OWSLib."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import shapely

from api.app import create_app
from landreg.auth import create_token
from tests.helpers import DORTMUND_REINOLDIKIRCHE, database_url, live_server, record, utm

X0, Y0 = utm(*DORTMUND_REINOLDIKIRCHE)
PARCELS = 25  # more than one page of 10, to exercise paging


@pytest.fixture(scope="module")
def server(committed_engine):
    record(
        committed_engine,
        *[
            {
                "local_ref": f"L{i:02d}",
                "category": "bauluecke" if i % 5 else "brachflaeche",
                "publication_allowed": True,
                "geom": shapely.box(X0 + 60 * i, Y0, X0 + 60 * i + 40, Y0 + 40),
            }
            for i in range(PARCELS)
        ],
    )
    with live_server(create_app(database_url(committed_engine))) as url:
        yield url


ogrinfo = shutil.which("ogrinfo")


@pytest.mark.skipif(ogrinfo is None, reason="GDAL command line tools (gdal-bin) not installed")
def test_gdal_reads_all_parcels_through_paging(server):
    result = subprocess.run(
        [ogrinfo, "-ro", "-al", "-so", "-oo", "PAGE_SIZE=10", f"OAPIF:{server}", "parcels"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"Feature Count: {PARCELS}" in result.stdout
    listing = subprocess.run(
        [ogrinfo, "-ro", "-q", "-oo", "PAGE_SIZE=10", f"OAPIF:{server}", "parcels"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.stdout.count("OGRFeature(parcels)") == PARCELS


@pytest.mark.skipif(ogrinfo is None, reason="GDAL command line tools (gdal-bin) not installed")
def test_gdal_pushes_attribute_filters_to_the_server(server):
    result = subprocess.run(
        [ogrinfo, "-ro", "-q", "--debug", "ON", f"OAPIF:{server}", "parcels", "-where", "category = 'brachflaeche'"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("OGRFeature(parcels)") == PARCELS // 5
    requests = [line for line in result.stderr.splitlines() if "/collections/parcels/items" in line]
    assert any("filter=" in line for line in requests), "\n".join(requests)


def test_owslib_lists_collections_items_and_queryables(server):
    from owslib.ogcapi.features import Features

    api = Features(server)
    assert "parcels" in [c["id"] for c in api.collections()["collections"]]
    lon, lat = 7.46, 51.50
    page = api.collection_items("parcels", bbox=[lon, lat, lon + 0.1, lat + 0.05], limit=5)
    assert page["numberReturned"] == 5 and page["numberMatched"] == PARCELS
    assert "category" in api.collection_queryables("parcels")["properties"]


def test_schemathesis_finds_no_server_error_nor_undocumented_answer(server, committed_engine):
    """Property-based requests generated from the OpenAPI document, anonymous and as a planner."""
    with committed_engine.begin() as conn:
        token = create_token(conn, "schemathesis", "planner", ["05913000"])[1]
    cli = str(Path(sys.executable).parent / "schemathesis")
    for headers in ([], ["-H", f"Authorization: Bearer {token}"]):
        result = subprocess.run(
            [
                cli,
                "run",
                f"{server}/openapi.json",
                "-c",
                "not_a_server_error,status_code_conformance,response_schema_conformance",
                "-n",
                "15",
                "--request-timeout",
                "30",
                "--seed",
                "1",
                *headers,
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout[-4000:]
