"""The field registry is the one list of parcel fields: a new attribute declared there reaches every
place without other edits; the migration it still needs is exactly what ``migration_sql`` and
``migrations/schema_history.py`` give."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from landreg import fields
from landreg.access import FULL, PUBLIC
from landreg.features import COLLECTIONS, source

ROOT = Path(__file__).resolve().parent.parent

# Runs in a fresh interpreter: landreg/fields.py as written, plus one more Field in ATTRIBUTES.
SCRIPT = r"""
import json, sys, types, uuid, importlib.util
from pathlib import Path

root, url, work = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
path = root / "landreg" / "fields.py"
anchor = ")  # fmt: skip\n\n#: The municipality a parcel lies in"
source = path.read_text()
assert source.count(anchor) == 1, "the end of ATTRIBUTES moved: update the test's anchor"
added = (
    '    Field("hochwasser_hinweis", "text", "Hochwasserhinweis", "Flood note", confidential=True, in_tiles=True,\n'
    '          shapefile_name="hw_hinweis", synonyms=("hochwasser", "flood_note")),\n'
)
import landreg
module = types.ModuleType("landreg.fields")
module.__file__ = str(path)
sys.modules["landreg.fields"] = landreg.fields = module
exec(compile(source.replace(anchor, added + anchor), str(path), "exec"), module.__dict__)

import shapely, pyogrio
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from fastapi.testclient import TestClient
from landreg import fields, register
from landreg.access import FULL, LATEST, PUBLIC, Principal
from landreg.features import COLLECTIONS, queryables_schema, source
from landreg.models import Parcel
from landreg.tiles import tile_properties
from landreg.importer import ImportOptions, import_file
from landreg.importer.mapping import FIELD_SYNONYMS
from landreg.export import Selection, export_parcels
from landreg.auth import create_token
from api.app import create_app

def load(name, file):
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
    return module

sys.path.insert(0, str(root / "migrations"))  # as alembic's prepend_sys_path does
import schema_history as history  # noqa: E402
head = load("m0021", root / "migrations" / "versions" / "0021_alkis_parcel_keys.py")  # the latest VERSIONED
new = fields.field("hochwasser_hinweis")
found = {}
engine = create_engine(url)
with engine.begin() as conn:  # the migration the new attribute needs, and nothing else
    versioned = [*head.VERSIONED, new.name]  # a view's columns can only be appended
    for statement in fields.migration_sql(new):
        conn.execute(text(statement))
    conn.execute(text(history.history_sql(versioned)))
    _, token = create_token(conn, "planer.essen", "planner", ["05113000"])

found["model"] = "hochwasser_hinweis" in Parcel.__table__.c
found["import_synonyms"] = list(FIELD_SYNONYMS["hochwasser_hinweis"])
found["editable"] = "hochwasser_hinweis" in fields.EDITABLE
found["cleared_on_replace"] = "hochwasser_hinweis" not in fields.KEPT_ON_REPLACE
parcels = COLLECTIONS["parcels"]
found["queryable_full"] = "hochwasser_hinweis" in queryables_schema(parcels, FULL)["properties"]
found["queryable_public"] = "hochwasser_hinweis" in queryables_schema(parcels, PUBLIC)["properties"]
found["tile_full"] = "hochwasser_hinweis" in tile_properties(parcels, source(parcels, FULL))
found["tile_public"] = "hochwasser_hinweis" in tile_properties(parcels, source(parcels, PUBLIC))

# an import recognises the column by a synonym and writes it through the staging table
x, y = 362000.0, 5700500.0  # Essen
geojson = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25832"}},
           "features": [{"type": "Feature", "properties": {"Kennung": "HW-1", "Kategorie": "Brachfläche",
                                                           "Hochwasser": "HQ100 am Rand", "Veröffentlichung": "ja"},
                         "geometry": shapely.geometry.mapping(shapely.box(x, y, x + 80, y + 60))}]}
file = work / "hw.geojson"
file.write_text(json.dumps(geojson))
with engine.begin() as conn:
    report = import_file(conn, file, ImportOptions(actor="planer.essen"))
found["import_inserted"] = report.inserted
with engine.connect() as conn:
    parcel_id, stored = conn.execute(text("SELECT id, hochwasser_hinweis FROM parcel WHERE local_ref = 'HW-1'")).one()
found["imported_value"] = stored

# the API: a PATCH sets it (a new version), the planner reads it, the public does not
client = TestClient(create_app(url))
with client:
    url_item = f"/collections/parcels/items/{parcel_id}"
    planner = {"Authorization": f"Bearer {token}"}
    etag = client.get(url_item, headers=planner).headers["etag"]
    patched = client.patch(url_item, headers=planner | {"If-Match": etag},
                           json={"type": "Feature", "geometry": None, "properties": {"hochwasser_hinweis": "HQ10"}})
    found["patch_status"] = patched.status_code
    found["planner_sees"] = client.get(url_item, headers=planner).json()["properties"].get("hochwasser_hinweis")
    found["public_sees"] = "hochwasser_hinweis" in client.get(url_item).json()["properties"]
    found["filter_public_status"] = client.get("/collections/parcels/items",
                                               params={"filter": "hochwasser_hinweis = 'HQ10'"}).status_code
with engine.connect() as conn:
    found["history"] = [r[0] for r in conn.execute(text(
        "SELECT hochwasser_hinweis FROM parcel_version WHERE parcel_id = :id ORDER BY version"), {"id": parcel_id})]
    for view, name in ((LATEST, "full.gpkg"), (PUBLIC, "public.gpkg")):  # the latest state, unreviewed too
        export_parcels(conn, work / name, Selection(view=view))
    export_parcels(conn, work / "full.shp", Selection(view=LATEST))
found["export_full"] = list(pyogrio.read_dataframe(work / "full.gpkg")["hochwasser_hinweis"])
found["export_public"] = "hochwasser_hinweis" in pyogrio.read_info(work / "public.gpkg")["fields"]
found["export_shapefile"] = "hw_hinweis" in pyogrio.read_info(work / "full.shp")["fields"]
print(json.dumps(found))
"""


def test_a_new_attribute_in_the_registry_reaches_every_place(make_database, tmp_path):
    from sqlalchemy import create_engine

    from landreg import migrate
    from landreg.publication import standing_notices
    from landreg.seed import load_municipalities

    url = make_database("landreg_new_field")
    engine = create_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        load_municipalities(conn)
        standing_notices(conn, "test-setup")
    engine.dispose()
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT), url, str(tmp_path)], capture_output=True, text=True, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found == {
        "model": True,
        "import_synonyms": ["hochwasser_hinweis", "hochwasser", "flood_note", "hw_hinweis"],
        "editable": True,
        "cleared_on_replace": True,
        "queryable_full": True,
        "queryable_public": False,  # declared confidential: the public may not even filter on it
        "tile_full": True,
        "tile_public": False,
        "import_inserted": 1,
        "imported_value": "HQ100 am Rand",
        "patch_status": 204,
        "planner_sees": "HQ10",
        "public_sees": False,
        "filter_public_status": 400,
        "history": ["HQ100 am Rand", "HQ10"],
        "export_full": ["HQ10"],
        "export_public": False,
        "export_shapefile": True,
    }


def test_every_field_is_declared_once_and_shapefile_names_fit():
    names = [f.name for f in fields.ALL]
    assert len(names) == len(set(names))
    short = [f.short_name for f in fields.ALL]
    assert len(short) == len(set(short)) and all(len(n) <= 10 for n in short)
    # every property a view shows is a declared field
    for view in (PUBLIC, FULL):
        assert set(source(COLLECTIONS["parcels"], view).properties) <= set(names)


def test_the_public_view_shows_exactly_the_public_fields():
    public = set(source(COLLECTIONS["parcels"], PUBLIC).properties)
    assert public == {f.name for f in fields.public()}
    assert not public & {f.name for f in fields.confidential()}
    assert {"owner_contact", "internal_notes", "contamination", "owner_willing", "publication_allowed"} <= {
        f.name for f in fields.confidential()
    }


def test_a_field_derived_from_a_confidential_one_is_confidential_or_public_on_purpose():
    """A derived field added without either is refused when the module is imported, and never
    counted public (the review found public() trusting ``confidential`` alone)."""
    from landreg.fields import Field, check_derivations, public

    secret = Field("secret", "text", "Geheim", "Secret", confidential=True)
    careless = Field("secret_len", "integer", "Länge", "Length", editable=False, derived_from=("secret",))
    declared = Field(
        "has_secret", "bool", "Hat", "Has", editable=False, derived_from=("secret",), public_on_purpose=True
    )
    with pytest.raises(ValueError, match="secret_len: derived from the confidential secret"):
        check_derivations((secret, careless))
    check_derivations((secret, declared))
    shown = {f.name for f in public()}
    assert "contamination_flag" in shown  # the one declared public on purpose
    assert not {"quality_score", "quality_findings", "public_since", "contamination"} & shown
