"""An in-process cache of rendered vector tiles, invalidated exactly through the database.

Several worker processes (and read replicas) serve tiles, so a cache in one process cannot learn of
an edit from memory: it learns from ``tile_invalidation`` (migration 0025), where triggers on every
table a tile reads record the EPSG:3857 envelope of each committed change (old and new outline).

Ordering, so that no tile older than an edit it should show is served (for public tiles: once the
edit's announcement has arrived, milliseconds after its commit):

1. :meth:`TileCache.sync` reads, in one statement, the database's snapshot and the invalidations
   committed since the snapshot of the previous sync (by transaction id, so a transaction that began
   earlier but committed later is not missed), and drops the cached tiles they touch, at every zoom.
   Signed-in tiles (``strict``) and public answers sync on every request. Public tiles, with
   :mod:`landreg.tilenotices` listening on the primary (the API's default), sync only after a
   commit was announced: until then a cached tile is current (:meth:`TileCache.peek`) and a hit
   asks the database nothing. A sync counts as covering the announcements when it ran on the
   primary, or on a replica that has replayed the primary's WAL position read after the newest of
   them (a replica behind it keeps the cache syncing, and what it renders is not kept).
   Without announcements (the listener not connected, or none set up) a request syncs unless a
   sync that started after the request began (or, with ``LANDREG_TILE_CACHE_SYNC_MS``, within that
   many milliseconds) has done it: with the default 0 a tile is never served after an edit that
   committed before the request arrived; with N > 0 it may be up to N ms late. On a lagging
   replica (its snapshot older than the last one seen) the cache is bypassed for that request.
2. A missing tile is rendered *after* the sync, so it shows at least what the sync saw; it is stored
   only if no invalidation processed since that sync (by another thread) touches it.
3. The register's day (:func:`landreg.clock.today`) is part of each entry: a notice's period ending makes parcels public
   at midnight without any write, so a new day empties the cache.

A missing entry is rendered once per process however many ask for it at once (request
coalescing, as nginx's ``proxy_cache_lock``): the first request renders, the others wait for it
(at most ``wait_s``, the API gives the statement timeout) and take what it stored. A cold cache or
an edit under a busy map otherwise renders the same low-zoom tile for every visitor at once, each
costing up to a second of database time. A waiting request takes the entry only if it was stored,
that is, if no invalidation applied after the renderer's sync touches it (the rule of point 2
above, counted from the generation the renderer's *sync* reached, not from when it began to render:
its database may be a replica that has not replayed an edit another request's sync applied
meanwhile); else the next request renders it, and the rest wait for that one.

Storage: a least-recently-used map bounded in bytes (``LANDREG_TILE_CACHE_MB``), per process. A
shared cache across processes and machines is the job of the reverse proxy or CDN in front, which
the tiles' ETag and Cache-Control allow; a directory on disk would add file locking and a second
invalidation path for little gain over a warm in-memory map per worker.

Besides tiles the cache keeps **public answers** (:meth:`TileCache.answer`: e.g. a page of the
investors' site search, an alert feed, an exposé's PDF: the same for every visitor and costly to
compute): they read the same tables the tiles do, so any invalidation at all (or a new day) drops
every one of them. That is coarse, and right for answers read far more often than the register is
written. Tiles and answers share one byte budget and one least-recently-used order: an answer's size
is its bytes, or for other values an estimate of the memory its objects take (:func:`footprint`).

Invalidation rows are pruned by the writers after a day (see the migration); a process that has not
synced for an hour forgets its tiles rather than rely on rows that may be gone (twelve hours when it
has listened without a break since: then every commit since was announced and synced soon after).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from sqlalchemy import Connection

from landreg import clock
from landreg.routing import on_replica
from landreg.tilenotices import Announcements

#: Half the width of the WebMercatorQuad world in metres.
_ORIGIN = 20037508.342789244
#: Slack around an envelope in metres: the trigger transforms a bbox's corners, a tile's search
#: transforms its own; the two differ by far less.
_SLACK_M = 2.0
_FORGET_AFTER_S = 3600.0
_FORGET_LISTENING_S = 12 * 3600.0
_RECENT = 10_000  # invalidations remembered for tiles rendered while another thread synced
_ENTRY_OVERHEAD = 200  # bytes of a key and its bookkeeping
#: How long a request waits for others rendering the same entry, in all (the API gives the statement timeout).
COALESCE_WAIT_S = 30.0

#: Where a hot standby's replay stands (bytes of WAL), NULL on the primary.
_REPLAYED = "CASE WHEN pg_is_in_recovery() THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint END"
_SNAPSHOT = f"SELECT pg_current_snapshot()::text, {_REPLAYED}"
_SYNC = f"""
    WITH now AS (SELECT pg_current_snapshot() AS snapshot)
    SELECT now.snapshot::text, {_REPLAYED}, t.layer, t.west, t.south, t.east, t.north
      FROM now LEFT JOIN tile_invalidation t
        ON t.xid >= pg_snapshot_xmin(CAST(%(last)s AS pg_snapshot))
       AND NOT pg_visible_in_snapshot(t.xid, CAST(%(last)s AS pg_snapshot))
"""


@dataclass(frozen=True)
class TileKey:
    """What a cached tile shows: the collection, the caller's view (its kind and municipalities),
    the scoring profile version (None: no scores) and the tile."""

    collection: str
    view: Hashable
    profile_id: int | None
    z: int
    x: int
    y: int


@dataclass(frozen=True)
class Invalidation:
    layer: str  # a collection, "scores" (parcel tiles with scores) or "*"
    envelope: tuple[float, float, float, float] | None  # EPSG:3857; None: everywhere

    def concerns(self, key: TileKey) -> bool:
        if self.layer == "*":
            return True
        if self.layer == "scores":
            return key.collection == "parcels" and key.profile_id is not None
        return self.layer == key.collection


@dataclass
class CachedTile:
    body: bytes
    etag: str
    day: dt.date | None  # the register's day when it was rendered
    gzipped: bytes | None = None  # the body gzipped, once it was asked for so (api.tilehits)


@dataclass
class _Answer:
    value: object
    day: dt.date
    size: int


def footprint(value: object) -> int:
    """Bytes the objects of ``value`` take in memory, approximately: ``sys.getsizeof`` of it and of
    everything its containers (dicts, lists, tuples, sets, dataclasses) hold, each object once."""
    seen: set[int] = set()
    stack = [value]
    total = 0
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif hasattr(item, "__dataclass_fields__"):
            stack.extend(getattr(item, name) for name in item.__dataclass_fields__)
    return total


def etag_of(body: bytes) -> str:
    """A strong ETag from the content: it changes exactly when the tile does."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class TileCache:
    """Rendered tiles by :class:`TileKey` and public answers by their own keys, within ``max_bytes``
    together; ``margin_units(z)``: how far (in tile units of 4096 per side) beyond its edge a tile at
    zoom z reads features, so a change that near it touches it."""

    def __init__(
        self,
        max_bytes: int,
        margin_units: Callable[[int], float],
        sync_interval_s: float = 0.0,
        announcements: Announcements | None = None,
        wait_s: float = COALESCE_WAIT_S,
    ) -> None:
        self.max_bytes = max_bytes
        self.wait_s = wait_s
        self._rendering: dict[Hashable, threading.Event] = {}  # key -> set when its first renderer is done
        self.announcements = announcements
        self._applied = -1  # the announcements (count) the last sync covered
        self._synced_epoch = -1  # the listener's connection at the last sync
        self._margin_units = margin_units
        self._sync_interval = sync_interval_s
        self._entries: OrderedDict[Hashable, CachedTile | _Answer] = OrderedDict()  # least recent first
        self._answer_keys: set[Hashable] = set()
        self._at: dict[tuple[int, int, int], set[TileKey]] = {}  # (z, x, y) -> keys
        self._zooms: dict[int, int] = {}  # z -> cached tiles
        self._bytes = 0
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._snapshot: str | None = None
        self._xmax = 0
        self._today: dt.date | None = None
        self._synced_from = -math.inf  # monotonic time at which the last completed sync began
        self._generation = 0
        self._recent: deque[tuple[int, Invalidation]] = deque(maxlen=_RECENT)

    # -- reading ---------------------------------------------------------------------------------

    def current(self) -> bool:
        """Whether the cache holds what the database holds, without asking it: the listener is
        connected, nothing was announced since the last sync, and the register's day is the same."""
        notices = self.announcements
        return (
            notices is not None and self._applied == notices.count and notices.quiet() and self._today == clock.today()
        )

    def peek(self, key: TileKey) -> CachedTile | None:
        """The tile if it is kept and :meth:`current` (no database needed), else None; as
        :meth:`tile` with ``strict=False``, for public tiles. Never waits for a sync under way
        (it is asked on the event loop): then None, and the caller takes the longer way."""
        if self.max_bytes <= 0 or not self.current():
            return None
        if not self._lock.acquire(blocking=False):  # a sync is invalidating: not worth waiting for here
            return None
        try:
            entry = self._entries.get(key)
            if entry is None or entry.day != self._today:
                return None
            self._entries.move_to_end(key)
            return entry
        finally:
            self._lock.release()

    def keep_gzipped(self, key: TileKey, entry: CachedTile, gzipped: bytes) -> None:
        """Keep the tile's gzipped body beside it, within the byte budget (when it is still kept; not
        while a sync holds the cache: asked on the event loop, this must not wait)."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            if entry.gzipped is not None:
                return
            entry.gzipped = gzipped
            if self._entries.get(key) is entry:
                self._bytes += len(gzipped)
                while self._bytes > self.max_bytes and self._entries:
                    self._remove(next(iter(self._entries)))
        finally:
            self._lock.release()

    def tile(
        self, conn: Connection, key: TileKey, render: Callable[[], bytes], strict: bool = True
    ) -> tuple[CachedTile, str]:
        """The tile from the cache or rendered (and stored), with ``hit``, ``miss`` or ``bypass``.

        ``strict`` (signed-in views: a planner sees an edit at once, whichever process made it):
        sync with the database first, so that no edit committed before this call is missed. Else
        (public tiles, which shared caches may keep for seconds anyway) an announcement still on
        its way (:mod:`landreg.tilenotices`) may be missed."""
        state = self._ready(conn, strict) if self.max_bytes > 0 else None
        if state is None:
            body = render()
            return CachedTile(body, etag_of(body), None), "bypass"

        def kept(entry) -> bool:
            return isinstance(entry, CachedTile) and entry.day == self._today

        def make(today: dt.date) -> tuple[CachedTile, Callable[[int], bool]]:
            body = render()
            return CachedTile(body, etag_of(body), today), lambda generation: self._still_valid(key, generation)

        return self._coalesced(key, kept, make, state)

    def _coalesced(self, key: Hashable, kept: Callable, make: Callable, state: tuple[int, dt.date]) -> tuple:
        """The entry under ``key`` when ``kept(entry)``, else made by ``make(today)`` (the value and
        whether it may be stored, given the generation of ``state``) and stored; with ``hit`` or
        ``miss``. ``state``: the generation and day of what this request's database shows (its
        sync's, :meth:`_ready`), not of the moment it renders: another request's sync may apply an
        edit in between that this request's database (a lagging replica) does not show yet.

        One request per key makes it at a time: the others wait for it (and for whoever makes it
        next, when it stored nothing), for ``wait_s`` in all, and take what was stored (a ``hit``);
        after that they make it themselves."""
        generation, today = state
        deadline, waited_on = time.monotonic() + self.wait_s, None
        while True:
            with self._lock:
                entry = self._entries.get(key)
                if kept(entry):
                    self._entries.move_to_end(key)
                    return entry, "hit"
                first = self._rendering.get(key)
                done = None
                if first is None:
                    done = self._rendering[key] = threading.Event()
            left = deadline - time.monotonic()
            if done is not None or first is waited_on or left <= 0:
                break  # making it, or the one waited for is still at it after all this time
            first.wait(left)
            waited_on = first
        try:
            entry, valid = make(today)
            with self._lock:
                if valid(generation) and today == self._today:
                    self._store(key, entry)
        finally:
            if done is not None:
                with self._lock:
                    del self._rendering[key]
                done.set()
        return entry, "miss"

    def _ready(self, conn: Connection, strict: bool) -> tuple[int, dt.date] | None:
        """Synced as far as a request needs: not at all when not ``strict``, :meth:`current` and
        ``conn`` is the primary (what it renders is at least as new as the last sync; a hot standby
        may lag behind it); else :meth:`sync`. The generation and day the request's database shows,
        or None: bypass the cache."""
        if not strict and self.current() and not on_replica(conn):
            with self._lock:
                return self._generation, self._today
        return self._sync(conn)

    def answer(self, conn: Connection, key: Hashable, compute: Callable[[], object]) -> tuple[object, str]:
        """A public answer from the cache, or computed (and kept while nothing is invalidated), with
        ``hit``, ``miss`` or ``bypass``. Keep it to answers that only read what the invalidation log
        covers (parcels, their review and publication state, scores, indicators, municipalities,
        context features) and that are the same for every caller; the caller must not change the
        value it gets (it is shared). Synced on every call, as a signed-in tile: such a page costs
        far more than the sync's query, and it shows an edit at once, from whichever process."""
        state = self._sync(conn) if self.max_bytes > 0 else None
        if state is None:
            return compute(), "bypass"

        def kept(entry) -> bool:  # an invalidation removed older ones
            return isinstance(entry, _Answer) and entry.day == self._today

        def make(today: dt.date) -> tuple[_Answer, Callable[[int], bool]]:
            value = compute()
            size = (len(value) if isinstance(value, bytes) else footprint(value)) + _ENTRY_OVERHEAD
            return _Answer(value, today, size), lambda generation: generation == self._generation  # nothing arrived

        entry, outcome = self._coalesced(("answer", key), kept, make, state)  # never equal to a TileKey
        return entry.value, outcome

    def sync(self, conn: Connection) -> bool:
        """Apply the invalidations committed since the last sync; False: this connection's database
        is behind what the cache has seen (a lagging replica), so bypass the cache."""
        return self._sync(conn) is not None

    def _sync(self, conn: Connection) -> tuple[int, dt.date] | None:
        """:meth:`sync`; the generation and day this connection's database shows (None: bypass)."""
        started = time.monotonic()
        with self._sync_lock:
            if self._synced_from >= started - self._sync_interval:
                # a sync that began after this request (or recently enough) did it; but this request's
                # database may be a replica that has not replayed what that sync applied: then what it
                # renders must not be kept under the current generation
                snapshot, replayed = conn.exec_driver_sql(_SNAPSHOT).one()
                return self._shown(_xmax(snapshot) >= self._xmax and self._replayed_enough(replayed))
            began = time.monotonic()
            today = clock.today()
            notices = self.announcements
            announced, announced_lsn = notices.state() if notices is not None else (-1, 0)
            epoch = notices.epoch if notices is not None and notices.listening else -2
            forget_after = _FORGET_LISTENING_S if epoch == self._synced_epoch else _FORGET_AFTER_S
            if self._snapshot is None or began - self._synced_from > forget_after:
                snapshot, replayed = conn.exec_driver_sql(_SNAPSHOT).one()
                with self._lock:
                    self._clear()
                    self._generation += 1  # renders under way store nothing
                    self._recent.append((self._generation, Invalidation("*", None)))
                self._accept(snapshot, today, began, announced, epoch, replayed is None or replayed >= announced_lsn)
                return self._shown(self._replayed_enough(replayed))
            rows = conn.exec_driver_sql(_SYNC, {"last": self._snapshot}).all()
            snapshot, replayed = rows[0][0], rows[0][1]
            if _xmax(snapshot) < self._xmax:
                return None
            found = [
                Invalidation(layer, None if x1 is None else (x1, y1, x2, y2))
                for _, _, layer, x1, y1, x2, y2 in rows
                if layer is not None
            ]
            with self._lock:
                if today != self._today:
                    self._clear()
                if found:
                    self._generation += 1
                    for answer in list(self._answer_keys):
                        self._remove(answer)
                    for inv in found:
                        self._recent.append((self._generation, inv))
                        self._invalidate(inv)
            self._accept(snapshot, today, began, announced, epoch, replayed is None or replayed >= announced_lsn)
            return self._shown(self._replayed_enough(replayed))

    def _shown(self, usable: bool) -> tuple[int, dt.date] | None:
        """The generation and day the last sync reached (called under the sync lock), if ``usable``."""
        if not usable:
            return None
        with self._lock:
            return self._generation, self._today

    def _accept(self, snapshot: str, today: dt.date, began: float, announced: int, epoch: int, covers: bool) -> None:
        """Take a sync's state; ``covers``: its database has everything announced before it began
        (the primary, or a replica that has replayed the primary's position after the newest
        announcement), else the next request syncs again."""
        self._snapshot, self._xmax, self._today, self._synced_from = snapshot, _xmax(snapshot), today, began
        self._synced_epoch = epoch
        if covers:
            self._applied = announced

    def _replayed_enough(self, replayed: int | None) -> bool:
        """Whether a database may render tiles to keep: the primary (``replayed`` None), or a replica
        that has replayed what was announced (a lagging one would keep tiles without a change)."""
        notices = self.announcements
        return replayed is None or notices is None or replayed >= notices.state()[1]

    # -- bookkeeping (under self._lock) ------------------------------------------------------------

    def _still_valid(self, key: TileKey, generation: int) -> bool:
        if generation == self._generation:
            return True
        if not self._recent or self._recent[0][0] > generation + 1:
            return False  # the invalidations since the render began are no longer all remembered
        return not any(g > generation and inv.concerns(key) and self._touches(inv, key) for g, inv in self._recent)

    def _touches(self, inv: Invalidation, key: TileKey) -> bool:
        if inv.envelope is None:
            return True
        x0, y0, x1, y1 = self._tile_range(inv.envelope, key.z)
        return x0 <= key.x <= x1 and y0 <= key.y <= y1

    def _tile_range(self, envelope, z: int) -> tuple[int, int, int, int]:
        """Columns and rows of the tiles at zoom z whose reach (edge plus margin) meets the envelope."""
        size = 2 * _ORIGIN / 2**z
        pad = size * self._margin_units(z) / 4096 + _SLACK_M
        left, bottom, right, top = envelope
        last = 2**z - 1
        x0 = max(0, math.floor((left - pad + _ORIGIN) / size))
        x1 = min(last, math.floor((right + pad + _ORIGIN) / size))
        y0 = max(0, math.floor((_ORIGIN - top - pad) / size))
        y1 = min(last, math.floor((_ORIGIN - bottom + pad) / size))
        return x0, y0, x1, y1

    def _tiles(self, z: int) -> list[TileKey]:
        return [k for k in self._entries if isinstance(k, TileKey) and k.z == z]

    def _invalidate(self, inv: Invalidation) -> None:
        for z, count in list(self._zooms.items()):
            if inv.envelope is None:
                doomed = [k for k in self._tiles(z) if inv.concerns(k)]
            else:
                x0, y0, x1, y1 = self._tile_range(inv.envelope, z)
                if (x1 - x0 + 1) * (y1 - y0 + 1) > count:
                    cells = [(k.x, k.y) for k in self._tiles(z) if x0 <= k.x <= x1 and y0 <= k.y <= y1]
                else:
                    cells = [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
                doomed = [k for xy in cells for k in self._at.get((z, *xy), ()) if inv.concerns(k)]
            for key in doomed:
                self._remove(key)

    @staticmethod
    def _size(entry: CachedTile | _Answer) -> int:
        if isinstance(entry, _Answer):
            return entry.size
        return len(entry.body) + len(entry.gzipped or b"") + _ENTRY_OVERHEAD

    def _store(self, key: Hashable, entry: CachedTile | _Answer) -> None:
        """Keep a tile or an answer, dropping the least recently used entries of either kind until
        the budget holds (an entry larger than the whole budget is not kept)."""
        if key in self._entries:
            self._remove(key)
        size = self._size(entry)
        if size > self.max_bytes:
            return
        self._entries[key] = entry
        if isinstance(key, TileKey):
            self._at.setdefault((key.z, key.x, key.y), set()).add(key)
            self._zooms[key.z] = self._zooms.get(key.z, 0) + 1
        else:
            self._answer_keys.add(key)
        self._bytes += size
        while self._bytes > self.max_bytes:
            self._remove(next(iter(self._entries)))

    def _remove(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._bytes -= self._size(entry)
        if not isinstance(key, TileKey):
            self._answer_keys.discard(key)
            return
        keys = self._at[(key.z, key.x, key.y)]
        keys.discard(key)
        if not keys:
            del self._at[(key.z, key.x, key.y)]
        self._zooms[key.z] -= 1
        if not self._zooms[key.z]:
            del self._zooms[key.z]

    def _clear(self) -> None:
        self._answer_keys.clear()
        self._entries.clear()
        self._at.clear()
        self._zooms.clear()
        self._bytes = 0

    # -- for tests and metrics -------------------------------------------------------------------

    def __contains__(self, key: TileKey) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        """The tiles kept."""
        return len(self._entries) - len(self._answer_keys)

    @property
    def answers_kept(self) -> int:
        return len(self._answer_keys)

    @property
    def size_bytes(self) -> int:
        return self._bytes


def _xmax(snapshot: str) -> int:
    return int(snapshot.split(":")[1])


def prune(conn: Connection, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Delete invalidation rows older than ``older_than`` (the writers' triggers do this too)."""
    return conn.exec_driver_sql(
        "DELETE FROM tile_invalidation WHERE changed_at < clock_timestamp() - %(age)s", {"age": older_than}
    ).rowcount
