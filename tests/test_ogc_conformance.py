"""The OGC API – Features Part 1 Core conformance suite (``ogctests``) against a live server.

The registry is seeded as the demo seeds it (municipalities, stations, stops, sample parcels),
so every listed collection has features with real, non-ASCII attributes.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from api.app import create_app
from landreg.seed import seed
from tests.helpers import live_server

RUN = """
import sys
from ogctests.main import run_ogctests
sys.exit(run_ogctests("features/core", instance_url=sys.argv[1], flags=["-q", "-p", "no:cacheprovider", "-W", "ignore"]))
"""


@pytest.fixture(scope="module")
def server(committed_engine):
    with committed_engine.begin() as conn:
        seed(conn, sample_count=60, sample_seed=5)
    with live_server(create_app(committed_engine.url.render_as_string(hide_password=False))) as url:
        yield url


def test_ogc_api_features_core_conformance_suite_passes(server, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", RUN, server], capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:]
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary, summary
    print(summary)
