"""Comparing 2 to 4 public sites side by side: the same facts, distances and scores for each, and
which rows differ (so that a page can mark them)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from landreg.errors import NotFound
from landreg.sites.expose import distances, facts
from landreg.sites.search import SiteQueryError, sites_by_id

MIN_SITES, MAX_SITES = 2, 4


@dataclass
class Comparison:
    sites: list[dict]  # in the order asked for
    rows: list[dict]  # {"label", "values": [text per site], "differs": bool}


def parse_ids(value: str | None) -> list[str]:
    """The ``ids`` parameter: 2 to 4 comma-separated site ids, each once."""
    listed = [] if value is None else list(dict.fromkeys(v.strip() for v in value[:1000].split(",") if v.strip()))
    if not MIN_SITES <= len(listed) <= MAX_SITES:
        raise SiteQueryError(
            "ids",
            f"{MIN_SITES} bis {MAX_SITES} Standorte vergleichen (durch Komma getrennt), nicht {len(listed)}",
            f"compare {MIN_SITES} to {MAX_SITES} sites (comma-separated), not {len(listed)}",
        )
    return listed


def compare(conn: Connection, ids: list[str], lang: str = "de") -> Comparison:
    """The sites side by side; NotFound naming the ids that are no public site (any of them)."""
    found = sites_by_id(conn, ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"no public site {', '.join(m[:40] for m in missing)}", "ids")
    sites = [found[i] for i in ids]
    score_label = "Bewertung (Investorenprofil, 0–100)" if lang != "en" else "Score (investor profile, 0–100)"
    rows = [
        {"label": score_label, "values": [("—" if s["score"] is None else f"{s['score']:g}") for s in sites]},
        {"label": "Gemeinde" if lang != "en" else "Municipality", "values": [s["municipality"] for s in sites]},
    ]
    per_site = [facts(s, lang) + distances(s, lang) for s in sites]
    for j, first in enumerate(per_site[0]):
        rows.append({"label": first["label"], "values": [f[j]["value"] for f in per_site]})
    for row in rows:
        row["differs"] = len(set(row["values"])) > 1
    return Comparison(sites, rows)
