"""Which municipality a parcel lies in, decided batch by batch while the file is read.

The rule is the database's (migration 0004): a parcel wholly inside one piece of a municipality
belongs to it; otherwise the municipality holding the largest share of its area. The geometries
of a batch are in memory as GEOS objects already, and the pieces (``municipality_part``, at most
256 vertices each) are few: testing one against the other here, each piece prepared once, takes
a tenth of the time PostGIS needs after the rows have been copied to it (same GEOS underneath).
The database still guards every other write through the parcel trigger.

The registry's boundaries are generalised (DVG2): a cadastral parcel along a border can fall, by
them, partly or even wholly on the wrong side. A parcel claimed for a municipality it lies within
a tolerance of (``Checks.border_tolerance_m``, 25 m) is taken as claimed (:meth:`Municipalities.near_claims`),
with a note naming the shares by the registry's boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text


@dataclass(frozen=True)
class Municipalities:
    ags: np.ndarray  # AGS of each piece
    parts: np.ndarray  # the pieces (prepared shapely polygons, EPSG:25832)
    tree: shapely.STRtree
    names: dict[str, str] = field(default_factory=dict)  # AGS -> name

    @classmethod
    def load(cls, conn: Connection) -> Municipalities:
        rows = conn.execute(text("SELECT ags, ST_AsBinary(geom) FROM municipality_part ORDER BY ags")).all()
        parts = shapely.from_wkb([bytes(wkb) for _, wkb in rows])
        shapely.prepare(parts)
        names = dict(conn.execute(text("SELECT ags, name FROM municipality")).all())
        return cls(np.array([ags for ags, _ in rows], dtype=object), parts, shapely.STRtree(parts), names)

    def named(self, ags: str) -> str:
        return f"{ags} {self.names.get(ags, '')}".strip()

    def near_claims(
        self, geoms: np.ndarray, found: np.ndarray, claimed: np.ndarray, tolerance_m: float
    ) -> dict[int, list[tuple[str, float]]]:
        """The geometries claimed for a municipality other than the one ``found`` that lie wholly within
        ``tolerance_m`` of the claimed one: index -> the shares of their area per municipality (largest first).

        Within the tolerance means inside the claimed municipality's pieces grown by it; only the
        pieces near the geometry are grown.
        """
        near: dict[int, list[tuple[str, float]]] = {}
        disputed = np.flatnonzero(~pd.isna(claimed) & (claimed != found))
        for i in disputed:
            geom = geoms[i]
            pieces = self.tree.query(geom, predicate="dwithin", distance=tolerance_m)
            own = pieces[self.ags[pieces] == claimed[i]]
            if not len(own):
                continue
            minx, miny, maxx, maxy = geom.bounds
            window = shapely.box(minx - tolerance_m, miny - tolerance_m, maxx + tolerance_m, maxy + tolerance_m)
            grown = shapely.buffer(shapely.union_all(shapely.intersection(self.parts[own], window)), tolerance_m)
            if not grown.covers(geom):
                continue
            overlapping = pieces[shapely.intersects(self.parts[pieces], geom)]
            areas = pd.Series(
                shapely.area(shapely.intersection(self.parts[overlapping], geom)), index=self.ags[overlapping]
            )
            shares = (areas.groupby(level=0).sum() / geom.area).sort_values(ascending=False)
            near[int(i)] = [(a, float(s)) for a, s in shares.items() if s > 0]
        return near

    def locate(self, geoms: np.ndarray, claimed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """AGS (None: outside every municipality) and the share of the area in it, per geometry.

        ``claimed``: the AGS each row claims (or None). The share is computed where it decides
        between municipalities or will be reported (a claim of another one); elsewhere it is NaN.
        """
        n = len(geoms)
        ags = np.full(n, None, dtype=object)
        share = np.full(n, np.nan)
        if n == 0:
            return ags, share
        # Wholly inside a piece: the pieces are the queries, so each is prepared once for the batch.
        part_idx, geom_idx = shapely.STRtree(geoms).query(self.parts, predicate="covers")
        ags[geom_idx] = self.ags[part_idx]
        share[geom_idx] = 1.0
        rest = np.flatnonzero(pd.isna(ags))
        if not len(rest):
            return ags, share
        # The rest lie on the seam of two pieces (of one municipality: most of them) or across a border.
        geom_idx, part_idx = self.tree.query(geoms[rest], predicate="intersects")
        inside = ~shapely.touches(geoms[rest][geom_idx], self.parts[part_idx])  # sharing area, not just an edge
        geom_idx, part_idx = geom_idx[inside], part_idx[inside]
        candidates = pd.DataFrame({"g": geom_idx, "ags": self.ags[part_idx]})
        kinds = candidates.groupby("g")["ags"].agg(["nunique", "first"])
        single = kinds[kinds["nunique"] == 1]
        rows = rest[single.index.to_numpy()]
        plain = pd.isna(claimed[rows]) | (claimed[rows] == single["first"].to_numpy())
        ags[rows[plain]] = single["first"].to_numpy()[plain]  # one municipality, not disputed
        # Across a border, or claimed for another municipality: the largest share of the area.
        shared = np.isin(geom_idx, single.index.to_numpy()[plain], invert=True)
        geom_idx, part_idx = geom_idx[shared], part_idx[shared]
        areas = shapely.area(shapely.intersection(geoms[rest][geom_idx], self.parts[part_idx]))
        totals = shapely.area(geoms[rest])
        sums = pd.DataFrame({"g": geom_idx, "ags": self.ags[part_idx], "area": areas}).groupby(["g", "ags"]).sum()
        for (g, a), area in sums["area"].items():
            s = area / totals[g] if totals[g] > 0 else 0.0
            if s > 0 and (np.isnan(share[rest[g]]) or s > share[rest[g]]):
                ags[rest[g]], share[rest[g]] = a, s
        return ags, share
