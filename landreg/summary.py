"""Aggregate figures of the current register."""

from __future__ import annotations

from sqlalchemy import Connection, text


def by_category(conn: Connection, published_only: bool = True):
    """Parcels and area per category among current (not retired) parcels."""
    return conn.execute(
        text("""
        SELECT category, count(*) AS parcels, sum(area_m2) AS area_m2, bool_or(is_sample) AS sample
          FROM parcel
         WHERE retired_at IS NULL AND (publication_allowed OR NOT :published_only)
         GROUP BY category
         ORDER BY category
        """),
        {"published_only": published_only},
    ).all()
