"""Loading the bundled data: municipalities, context layers and the sample parcels.

Every step is idempotent: running ``landreg seed`` again keeps what is there and loads only
what is missing, so the demo can be restarted without duplicating anything.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import geopandas as gpd
import shapely
from geoalchemy2.shape import from_shape
from sqlalchemy import Connection, func, insert, select, text

from landreg import STORAGE_SRID, clock, context, geodata, sample
from landreg.access import Principal
from landreg.models import Parcel
from landreg.publication import standing_notices
from landreg.publication.calendar import objection_period_end

SAMPLE_ACTOR = "landreg-seed"


@dataclass
class SeedReport:
    loaded: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"loaded {n:>6} {what}" for what, n in self.loaded.items()]
        out += [f"kept   {n:>6} {what} (already loaded)" for what, n in self.kept.items()]
        out += [f"repaired {n:>4} {what}" for what, n in self.repaired.items()]
        return out


def load_municipalities(conn: Connection) -> int:
    """Upsert all NRW municipalities (the RVR's 53 marked ``region = 'RVR'``)."""
    gdf = geodata.read_nrw_municipalities()
    rows = [
        {
            "ags": r.ags,
            "name": r.name,
            "district_ags": r.district_ags,
            "district_name": r.district_name,
            "region": r.region if isinstance(r.region, str) else None,  # NaN after dissolve means none
            "data_date": geodata.MUNICIPALITIES.data_date,
            "source": geodata.MUNICIPALITIES.attribution,
            "wkb": shapely.to_wkb(r.geometry),
        }
        for r in gdf.itertuples()
    ]
    conn.execute(
        text("""
        INSERT INTO municipality (ags, name, district_ags, district_name, region, data_date, source, geom)
        VALUES (:ags, :name, :district_ags, :district_name, :region, :data_date, :source,
                ST_Multi(ST_GeomFromWKB(:wkb, 25832)))
        ON CONFLICT (ags) DO UPDATE SET
            name = EXCLUDED.name, district_ags = EXCLUDED.district_ags,
            district_name = EXCLUDED.district_name, region = EXCLUDED.region,
            data_date = EXCLUDED.data_date, source = EXCLUDED.source, geom = EXCLUDED.geom
        WHERE (municipality.name, municipality.district_ags, municipality.district_name, municipality.region,
               municipality.data_date, municipality.source)
              IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.district_ags, EXCLUDED.district_name, EXCLUDED.region,
                                EXCLUDED.data_date, EXCLUDED.source)
           OR NOT ST_Equals(municipality.geom, EXCLUDED.geom)
        """),
        rows,
    )
    return len(rows)


@dataclass(frozen=True)
class BundledLayer:
    """A bundled context layer (``data/geo``; sources, licences and limits in its README), loaded by
    ``landreg seed`` under its name, with the coverage it is complete for."""

    name: str
    kind: str
    label: str  # in the seed's report
    file: str
    layer: str | None
    source: str
    licence: str
    data_date: dt.date | None
    coverage: str  # "RVR", "NRW" (less PORT_GAPS), or "features": the union of its own areas
    coverage_note: str
    name_column: str = "name"


#: Municipalities with inland ports that Eurostat GISCO does not list: the port layer is not complete
#: there (data/geo/README.md): Hamm, Datteln, Lünen, Marl, Bergkamen, Essen, Bottrop, Gladbeck,
#: Oberhausen, Dinslaken.
PORT_GAPS = ("05915000", "05562008", "05978024", "05562024", "05978004", "05113000", "05512000", "05562014",
             "05119000", "05170008")  # fmt: skip
_GISCO = "Data source: Eurostat - GISCO (European Commission)"
_EUROSTAT_LICENCE = "Eurostat, Wiederverwendung mit Quellenangabe (Beschluss 2011/833/EU)"
BUNDLED_LAYERS = (
    BundledLayer(
        "db-bahnhoefe", "bahnhof", "railway stations", "rvr_db_stations_4326.geojson", None,
        geodata.RAIL_STATIONS.attribution, "CC BY 4.0", None, "RVR",
        "RVR: die 53 Gemeinden des Regionalverbands Ruhr (Bahnhöfe außerhalb fehlen)",
    ),
    BundledLayer(
        "hafas-haltestellen", "haltestelle", "transit stops", "rvr_hafas_stops_4326.gpkg", None,
        geodata.TRANSIT_STOPS.attribution, "CC BY 4.0, OSM-Anteile ODbL 1.0", None, "RVR",
        "RVR: die 53 Gemeinden des Regionalverbands Ruhr (Haltestellen außerhalb fehlen)",
    ),
    BundledLayer(
        "gisco-haefen", "hafen", "inland ports (Eurostat GISCO)", "inland_ports_gisco_nrw_25832.gpkg", "inland_ports",
        f"{_GISCO}, Ports 2013 · neun Lagen © EuroGeographics", _EUROSTAT_LICENCE, dt.date(2015, 4, 29), "NRW",
        "NRW ohne Hamm, Datteln, Lünen, Marl, Bergkamen, Essen, Bottrop, Gladbeck, Oberhausen und Dinslaken, "
        "deren Häfen GISCO nicht führt; Häfen außerhalb NRW fehlen; Lage der Hafenpunkte teils nur auf "
        "2,5 km genau (coord_reliability)",
    ),
    BundledLayer(
        "gisco-hafenflaechen", "hafen", "port areas (Eurostat GISCO)", "inland_ports_gisco_nrw_25832.gpkg",
        "inland_port_areas",
        f"{_GISCO}, Ports 2009 · © European Environment Agency for CORINE Land Cover 2000",
        _EUROSTAT_LICENCE, dt.date(2010, 3, 4), "NRW",
        "NRW ohne die Gemeinden, deren Häfen GISCO nicht führt (wie gisco-haefen); Hafenflächen der größeren Häfen",
    ),
    BundledLayer(
        "bfg-rheinaue", "ueberschwemmungsgebiet", "Rhine active floodplain (BfG hydflood)",
        "flood_rhine_active_floodplain_nrw_25832.gpkg", None,
        "Active floodplain of the Rhine: BfG, R package hydflood (A. Weber), based on Brunotte et al. (2009) / "
        "Bundesamt für Naturschutz",
        "GPL-2 (Lizenz des Pakets hydflood)", dt.date(2022, 7, 19), "features",
        "nur der Rhein: die aktive (rezente) Aue des Rheins, nicht das festgesetzte Überschwemmungsgebiet; Ruhr, "
        "Emscher, Lippe und Kanäle sind nicht erfasst, außerhalb der Rheinaue bleibt die Lage unbekannt",
        name_column="gemeinde",
    ),
)  # fmt: skip


def _bundled_frame(bundled: BundledLayer) -> gpd.GeoDataFrame:
    """The layer's features in EPSG:25832; no ";" in their texts (as in attributions: GDAL reads a
    GeoJSON string with one as a list of data sources, and so would fail on the API's features)."""
    frame = gpd.read_file(geodata.GEO_DIR / bundled.file, layer=bundled.layer).to_crs(STORAGE_SRID)
    for name in frame.columns.drop(frame.geometry.name):
        frame[name] = frame[name].map(lambda v: v.replace(";", ",") if isinstance(v, str) else v)
    return frame


def _bundled_coverage(conn: Connection, bundled: BundledLayer, frame: gpd.GeoDataFrame) -> context.Coverage:
    if bundled.coverage == "features":
        return context.Coverage(shapely.union_all(frame.geometry.to_numpy()), note=bundled.coverage_note)
    where = "region = 'RVR'" if bundled.coverage == "RVR" else "NOT ags = ANY (:gaps)"
    ags = conn.execute(text(f"SELECT ags FROM municipality WHERE {where} ORDER BY ags"), {"gaps": list(PORT_GAPS)})
    return context.Coverage(ags=tuple(ags.scalars()), note=bundled.coverage_note)


def load_bundled_layers(conn: Connection, report: SeedReport) -> None:
    """Load the bundled context layers, or replace those that differ (their content, metadata or
    coverage); a layer as bundled is kept. Needs the municipalities (for the coverage)."""
    for bundled in BUNDLED_LAYERS:
        frame = _bundled_frame(bundled)
        features = context.features_of(bundled.kind, frame, bundled.name_column, bundled.file)
        meta = context.Metadata(bundled.source, bundled.licence, bundled.data_date)
        change = context.put(conn, SAMPLE_ACTOR, bundled.name, features, meta, _bundled_coverage(conn, bundled, frame))
        kept = change.action == "unveraendert"
        (report.kept if kept else report.loaded)[bundled.label] = change.features_after or 0


def load_sample_parcels(conn: Connection, count: int, seed: int) -> int:
    """Insert the generated Beispieldaten, unless sample parcels are there already."""
    if conn.execute(select(func.count()).select_from(Parcel).where(Parcel.is_sample)).scalar_one():
        return 0
    gdf = sample.generate(count=count, seed=seed)
    rows = []
    for record in gdf.to_dict("records"):
        # a missing value as NULL: a float NaN would be stored as the text 'NaN'
        record = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()}
        record["geom"] = from_shape(record["geom"], srid=STORAGE_SRID)
        rows.append(record | {"created_by": SAMPLE_ACTOR, "updated_by": SAMPLE_ACTOR})
    conn.execute(insert(Parcel), rows)
    return len(rows)


#: The municipality whose sample notice is still in its objection period (Bochum).
RUNNING_NOTICE_AGS = "05911000"


def sample_publication(conn: Connection) -> tuple[int, int]:
    """The publication process on the Beispieldaten: every municipality announced long ago, except
    Bochum, whose notice for commercial and industrial land is in its objection period; three owners
    of Dortmund sample parcels objected, one of them withdrew. Only where nothing is recorded yet."""
    if conn.execute(text("SELECT EXISTS (SELECT FROM publication_notice)")).scalar_one():
        return 0, 0
    announced = clock.today() - dt.timedelta(days=10)
    conn.execute(
        text("""
        INSERT INTO publication_notice (ags, kind, announced_on, objection_until, categories, selected_only,
                                        reference, recorded_by)
        VALUES (:ags, 'bekanntmachung', :on, :until, ARRAY['gewerbeflaeche', 'industrieflaeche'], true,
                'Amtsblatt (Beispiel)', :actor)
    """),
        {"ags": RUNNING_NOTICE_AGS, "on": announced, "until": objection_period_end(announced), "actor": SAMPLE_ACTOR},
    )
    notices = 1 + standing_notices(conn, SAMPLE_ACTOR)
    parcels = (
        conn.execute(
            text("""SELECT id FROM parcel WHERE is_sample AND ags = '05913000' AND publication_allowed
                 ORDER BY local_ref LIMIT 3""")
        )
        .scalars()
        .all()
    )
    for i, parcel_id in enumerate(parcels):
        conn.execute(
            text("""INSERT INTO objection (parcel_id, received_on, withdrawn_on, note, recorded_by)
                    VALUES (:p, :received, :withdrawn, 'Widerspruch des Eigentümers (Beispiel)', :actor)"""),
            {
                "p": parcel_id,
                "received": clock.today() - dt.timedelta(days=30 + i),
                "withdrawn": clock.today() - dt.timedelta(days=5) if i == 2 else None,
                "actor": SAMPLE_ACTOR,
            },
        )
    return notices, len(parcels)


#: The municipality whose planner's sample changes wait for review (Essen), and who made and reviewed them.
SAMPLE_REVIEW_AGS = "05113000"
SAMPLE_PLANNER = Principal(None, "planung.essen (Beispiel)", "planner", (SAMPLE_REVIEW_AGS,))
SAMPLE_REVIEWER = Principal(None, "pruefung.rvr (Beispiel)", "reviewer")


def sample_review(conn: Connection) -> int:
    """The review on the Beispieldaten: Essen's planner changed three published sample parcels,
    recorded a new one and retired one; a reviewer approved one change and sent one back with a
    comment; the others wait. Only where no submission is recorded yet. Returns the submissions."""
    from sqlalchemy.orm import Session

    from landreg import register, review

    if conn.execute(text("SELECT EXISTS (SELECT FROM submission)")).scalar_one():
        return 0
    chosen = conn.execute(
        text("""SELECT id, version, ST_AsBinary(ST_Buffer(geom, -5)) AS smaller FROM parcel
                 WHERE is_sample AND ags = :ags AND publication_allowed AND retired_at IS NULL AND area_m2 > 2000
                 ORDER BY local_ref LIMIT 4"""),
        {"ags": SAMPLE_REVIEW_AGS},
    ).all()
    if len(chosen) < 4:
        return 0
    with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
        (a, b, c, d) = chosen
        register.update(session, SAMPLE_PLANNER, a.id, {a.version}, {"data_date": clock.today()})
        register.update(session, SAMPLE_PLANNER, b.id, {b.version}, {"name": "Gewerbepark Nord (neu benannt)"})
        register.update(session, SAMPLE_PLANNER, c.id, {c.version}, {"geom": shapely.from_wkb(bytes(c.smaller))})
        register.retire(session, SAMPLE_PLANNER, d.id, {d.version}, "bebaut")
        x, y = conn.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM parcel WHERE id = :i) s"),
            {"i": a.id},
        ).one()
        register.create(
            session,
            SAMPLE_PLANNER,
            {"local_ref": "E-NEU-1", "name": "Baulücke (neu erfasst)", "category": "bauluecke", "is_sample": True,
             "publication_allowed": True, "geom": shapely.Point(x, y).buffer(15, quad_segs=4)},
        )  # fmt: skip
        session.commit()  # the savepoint in the seed's transaction
    waiting = [s["id"] for s in review.submissions(conn, SAMPLE_REVIEWER)]
    review.approve(conn, SAMPLE_REVIEWER, waiting[:1], "Stand aktualisiert, plausibel (Beispiel)")
    review.reject(conn, SAMPLE_REVIEWER, waiting[1:2], "Bitte den Namen wie im Bebauungsplan angeben (Beispiel)")
    return len(waiting)


def repair_sample_nan(conn: Connection) -> int:
    """Sample parcels loaded by earlier versions store an unknown previous use as the text 'NaN'
    (pandas' missing value): set it to NULL. The current row changes as an edit by the seed (a new
    version); the ended versions of sample parcels, generated too, are corrected in place."""
    repaired = conn.execute(
        text("""UPDATE parcel SET previous_use = NULL, updated_by = :actor
                 WHERE previous_use = 'NaN' AND is_sample AND retired_at IS NULL"""),
        {"actor": SAMPLE_ACTOR},
    ).rowcount
    conn.execute(text("UPDATE parcel_past_version SET previous_use = NULL WHERE previous_use = 'NaN' AND is_sample"))
    return repaired


def seed(conn: Connection, sample_count: int, sample_seed: int) -> SeedReport:
    report = SeedReport()
    report.loaded["municipalities (NRW, upserted)"] = load_municipalities(conn)
    load_bundled_layers(conn, report)
    repaired = repair_sample_nan(conn)
    if repaired:
        report.repaired["sample parcels whose previous use was the text 'NaN' (now empty)"] = repaired
    if sample_count == 0:
        return report
    n = load_sample_parcels(conn, sample_count, sample_seed)
    notices, objections = sample_publication(conn)
    if notices or objections:
        report.loaded["sample notices and objections (§ 200 (3) BauGB, Beispieldaten)"] = notices + objections
    submissions = sample_review(conn)
    if submissions:
        report.loaded["sample submissions for review (Prüfung, Beispieldaten)"] = submissions
    if n:
        report.loaded["sample parcels (Beispieldaten)"] = n
    else:
        report.kept["sample parcels (Beispieldaten)"] = conn.execute(
            select(func.count()).select_from(Parcel).where(Parcel.is_sample)
        ).scalar_one()
    return report
