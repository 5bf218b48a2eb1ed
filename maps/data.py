"""What the maps read from the registry: always through the caller's view of the parcels
(:func:`landreg.features.source`), so a public map can never carry a confidential field."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

from geoalchemy2 import Geometry
from geoalchemy2.shape import to_shape
from sqlalchemy import Connection, Date, Float, Numeric, cast, func, select, text

from landreg import cql, fields, rules
from landreg.access import View
from landreg.features import COLLECTIONS, Source, source
from landreg.models import Parcel
from landreg.scoring.profiles import Profile
from landreg.scoring.visible import scored, visible_score
from landreg.sites.changes import latest_change

PARCELS = COLLECTIONS["parcels"]


class Selection:
    """The parcels a map shows: the caller's visible parcels narrowed by the map's filter."""

    def __init__(self, view: View, node=None, profile: Profile | None = None):
        self.view = view
        self.node = node
        self.profile = profile
        self.src: Source = source(PARCELS, view)
        self.where = [cql.to_sql(node, self.src.properties, self.src.geometry)] if node is not None else []

    def _rows(self):
        rows = self.src.query
        if self.profile is not None:
            rows = scored(rows, self.src.id_column, self.src.version_column, self.profile.id)
        return rows

    def _score(self):
        return cast(func.round(cast(self._visible_score(), Numeric), 1), Float).label("score")

    def _visible_score(self):
        return visible_score(self.view, self.src.properties["ags"])

    def summary(self, conn: Connection) -> dict:
        """Count, data date, whether sample data is among them, and the extent (CRS84).

        The data date is the newest survey date of the parcels shown, else the registry's last change
        as the view may know it: a view that sees every field its last edit, any other the last
        change the public saw (:func:`landreg.sites.changes.latest_change`), so that an edit of a
        confidential field or one waiting for review does not move the date."""
        p = self.src.properties
        row = conn.execute(
            select(
                func.count(),
                func.max(p["data_date"]),
                func.bool_or(p["is_sample"]),
                # the extent of the boxes in EPSG:25832, transformed once (not every parcel)
                func.ST_Transform(func.ST_SetSRID(cast(func.ST_Extent(self.src.geometry), Geometry), 25832), 4326),
            ).where(*self.where)
        ).one()
        # the last change only where no survey date is known (for the public: latest_change, which
        # reads the newest versions and approvals first)
        data_date = row[1] if row[1] is not None else self._last_change(conn)
        box = None
        if row[3] is not None:
            box = list(to_shape(row[3]).bounds)
        return {"count": row[0], "data_date": data_date, "sample": bool(row[2]), "bbox": box}

    def _last_change(self, conn: Connection) -> dt.date | None:
        """The register's last change as the view may know it (see :meth:`summary`)."""
        if self.view.kind == "full":
            return conn.execute(select(cast(func.max(Parcel.updated_at), Date))).scalar_one()
        seen = latest_change(conn)
        return seen.date() if seen else None

    def features(
        self, conn: Connection, limit: int | None = None, ranked: bool = False, ids: list[str] | None = None
    ) -> list[dict]:
        """GeoJSON features (CRS84) with the popup fields the view sees (and score): an embedded parcel's
        popup has no item to ask; ``ranked``: best score first; ``ids``: only these parcels (if the selection
        has them)."""
        shown = {f.name for f in fields.popup_fields()}
        props = {name: value for name, value in self.src.properties.items() if name in shown}
        columns = [
            self.src.id_column.label("id"),
            func.ST_AsGeoJSON(func.ST_Transform(self.src.geometry, 4326), 6).label("geometry"),
            *[value.label(name) for name, value in props.items()],
        ]
        if self.profile is not None:
            columns.append(self._score())
        query = select(*columns).select_from(self._rows()).where(*self.where)
        if ids is not None:
            query = query.where(self.src.id_column.in_(ids))
        if ranked:
            score = self._visible_score()
            query = query.where(score.is_not(None)).order_by(score.desc(), self.src.id_column)
        rows = conn.execute(query.limit(limit)).mappings()
        features = []
        for r in rows:
            properties = {k: _plain(v) for k, v in r.items() if k not in ("geometry",) and v is not None}
            properties["id"] = str(r["id"])
            features.append(
                {"type": "Feature", "id": str(r["id"]), "geometry": json.loads(r["geometry"]), "properties": properties}
            )
        return features


def _plain(value):
    return value.isoformat() if isinstance(value, dt.date) else value


def municipality_names(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(text("SELECT ags, name FROM municipality")).all())


def rvr_ags(conn: Connection) -> list[str]:
    return list(conn.execute(text("SELECT ags FROM municipality WHERE region = 'RVR' ORDER BY ags")).scalars())


def municipalities(conn: Connection, ags: list[str] | None = None, tolerance_m: float = 25.0) -> dict:
    """Municipal boundaries (the RVR's, or the given ones), simplified for the web, as GeoJSON."""
    rows = conn.execute(
        text("""
        SELECT ags, name, ST_AsGeoJSON(ST_Transform(ST_SimplifyPreserveTopology(geom, :tol), 4326), 5) AS g
          FROM municipality
         WHERE CASE WHEN CAST(:ags AS text[]) IS NULL THEN region = 'RVR' ELSE ags = ANY(CAST(:ags AS text[])) END
         ORDER BY ags
    """),
        {"tol": tolerance_m, "ags": ags or None},
    )
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": r.ags, "geometry": json.loads(r.g), "properties": {"ags": r.ags, "name": r.name}}
            for r in rows
        ],
    }


def reserves_by_municipality(conn: Connection, view: View, ags: list[str] | None = None) -> dict[str, dict]:
    """Per municipality, of the parcels the caller may see: the area (ha) of each figure of
    :data:`landreg.rules.FIGURES` as ``<figure>_ha`` (reserve, available, restriction-free), and
    the number of reserve parcels."""
    src = source(PARCELS, view)
    p = src.properties
    row = SimpleNamespace(**p)  # the predicates read the parcel's columns as attributes
    query = select(
        p["ags"],
        func.count().filter(rules.is_reserve(row)).label("parcels"),
        *[
            func.coalesce(func.sum(p["area_m2"]).filter(is_(row)), 0).label(figure)
            for figure, is_ in rules.FIGURES.items()
        ],
    ).group_by(p["ags"])
    if ags:
        query = query.where(p["ags"].in_(ags))
    return {
        r.ags: {"parcels": r.parcels} | {f"{f}_ha": round(r._mapping[f] / 10_000, 2) for f in rules.FIGURES}
        for r in conn.execute(query)
    }


def plan_check(conn: Connection, check_id: int) -> dict | None:
    """A recorded plan check: name, use, its area (GeoJSON, CRS84) and its parcels with their conflicts."""
    row = (
        conn.execute(
            text("""SELECT id, name, intended_use, conflict, actor, checked_at,
                       ST_AsGeoJSON(ST_Transform(geom, 4326), 6) AS g FROM plan_check WHERE id = :id"""),
            {"id": check_id},
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        return None
    parcels = dict(
        conn.execute(
            text("SELECT parcel_id::text, conflict FROM plan_check_parcel WHERE plan_check_id = :id"), {"id": check_id}
        ).all()
    )
    return dict(row) | {"geometry": json.loads(row["g"]), "parcels": parcels}
