"""The file read ahead in a thread: the interpreter's switch interval is short while it runs (the
importer's thread gets the GIL back soon after each answer of the server) and as it was afterwards."""

from __future__ import annotations

import sys
import threading

import pytest
from sqlalchemy import text

from landreg.importer import ImportRefused
from landreg.importer.readahead import SWITCH_INTERVAL_S, read_ahead, short_switches
from tests.helpers import DORTMUND_REINOLDIKIRCHE as DO
from tests.test_import import frame, near, run, seven_parcels


@pytest.fixture
def interval():
    """The switch interval a test starts from (not CPython's default: a restore must restore this one)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    yield 0.004
    sys.setswitchinterval(before)


def test_the_batches_are_prepared_ahead_with_a_short_switch_interval(interval):
    seen = []

    def prepare(i, batch):
        seen.append((i, batch, sys.getswitchinterval()))
        return (batch * 10,)

    assert list(read_ahead(iter(["a", "b"]), prepare)) == [("a", ("aaaaaaaaaa",)), ("b", ("bbbbbbbbbb",))]
    assert seen == [(0, "a", SWITCH_INTERVAL_S), (1, "b", SWITCH_INTERVAL_S)]
    assert sys.getswitchinterval() == interval


def test_the_interval_is_restored_when_preparing_fails(interval):
    def prepare(i, batch):
        raise ValueError("unreadable row")

    with pytest.raises(ValueError, match="unreadable row"):
        list(read_ahead(iter(["a"]), prepare))
    assert sys.getswitchinterval() == interval


def test_overlapping_readers_restore_the_interval_when_the_last_one_ends(interval):
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    during = {}

    def second():
        first_in.wait()
        with short_switches():
            second_in.set()
            first_out.wait()
            during["after the first ended"] = sys.getswitchinterval()

    reader = threading.Thread(target=second)
    reader.start()
    with short_switches():
        first_in.set()
        second_in.wait()
    first_out.set()
    reader.join()
    assert during == {"after the first ended": SWITCH_INTERVAL_S}
    assert sys.getswitchinterval() == interval


def test_an_import_leaves_the_interval_as_it_found_it(conn, tmp_path, interval):
    path = tmp_path / "seven.gpkg"
    frame(seven_parcels()).to_file(path)
    assert run(conn, path, batch_size=2).status == "committed"
    assert sys.getswitchinterval() == interval
    conn.execute(text("ALTER TABLE parcel ADD CONSTRAINT test_no_s7 CHECK (local_ref <> 'S-7' OR version = 1)"))
    frame(seven_parcels(geometry=near(DO, 700, size=50))).to_file(path)
    with pytest.raises(ImportRefused, match="test_no_s7"):
        run(conn, path, batch_size=2)
    assert sys.getswitchinterval() == interval
