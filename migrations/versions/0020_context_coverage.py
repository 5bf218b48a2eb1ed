"""Context layers that tell their coverage: every context feature belongs to a layer with a name,
kind, source, licence, date, content checksum and the area it covers; absence of data outside
that area is not read as "far away".

* ``context_layer``: one row per loaded layer. Its ``coverage`` is given (``angegeben``) or the
  union of the municipalities its features lie in (``gemeinden``, kept up to date by the database).
  ``covers``: the kinds whose coverage it speaks for: its own, and for a B-Plan also
  ``wohngebiet`` (its residential designations count as housing).
* ``context_feature.layer_id``: the layer of each feature (the kind must be the layer's). A feature
  written without a layer, in SQL rather than through landreg, gets the layer "kind: source".
* ``context_coverage`` (the union per kind) and its pieces ``context_coverage_part`` (areas) and
  ``context_coverage_edge`` (boundary lines), subdivided for index lookups: whether a parcel lies
  in the coverage, and how far its edge is.
* ``context_layer_change``: every load, replacement and removal with who, when and what.
* ``context_changed()`` leaves ``context_state`` alone while ``landreg.context_rescored`` is
  ``on``: landreg then re-scores the affected parcels itself in the same transaction.
* The kind ``bplan``: designations of B-Plans (XPlanGML), with a partial spatial index.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# Frozen as they were at this revision.
KINDS_BEFORE = [
    "bahnhof", "haltestelle", "autobahnanschluss", "hafen", "wohngebiet", "ueberschwemmungsgebiet", "schutzgebiet",
]  # fmt: skip
KINDS = [*KINDS_BEFORE, "bplan"]
#: Names of the layers the bundled data was loaded as before, by their attribution (landreg seed
#: loads them again under these names, with their coverage).
BUNDLED = {
    "DB Station&Service AG, Stationsdaten, CC BY 4.0": "db-bahnhoefe",
    "DB InfraGO AG, HAFAS-Haltestellen, CC BY 4.0 / © OpenStreetMap contributors, ODbL": "hafas-haltestellen",
}

CONTEXT_CHANGED_BEFORE = """
    CREATE OR REPLACE FUNCTION context_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE context_state SET changed_at = clock_timestamp();
        RETURN NULL;
    END $$;
"""


def _kinds(kinds: list[str]) -> str:
    return ", ".join(f"'{k}'" for k in kinds)


def upgrade() -> None:
    op.execute(f"""
    CREATE TABLE context_layer (
        id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name           text NOT NULL CONSTRAINT context_layer_name_unique UNIQUE
                       CONSTRAINT context_layer_name_length CHECK (length(name) BETWEEN 1 AND 200),
        kind           text NOT NULL CONSTRAINT context_layer_kind_code CHECK (kind IN ({_kinds(KINDS)})),
        source         text NOT NULL,
        licence        text,
        data_date      date,
        checksum       char(64),
        coverage       geometry(MultiPolygon, 25832) NOT NULL DEFAULT 'SRID=25832;MULTIPOLYGON EMPTY'
                       CONSTRAINT context_layer_coverage_valid CHECK (ST_IsValid(coverage)),
        coverage_basis text NOT NULL CONSTRAINT context_layer_coverage_basis
                       CHECK (coverage_basis IN ('gemeinden', 'angegeben')),
        coverage_note  text,
        coverage_ags   text[],
        covers         text[] NOT NULL CONSTRAINT context_layer_covers_own_kind CHECK (kind = ANY (covers)),
        features       integer NOT NULL DEFAULT 0,
        loaded_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
        loaded_by      text NOT NULL,
        CONSTRAINT context_layer_id_kind UNIQUE (id, kind)
    );
    COMMENT ON TABLE context_layer IS 'context layers: what they hold, where from, under which licence, and where they are complete (coverage)';
    COMMENT ON COLUMN context_layer.checksum IS 'SHA-256 of the content (features as loaded); NULL: written in SQL, not by landreg';
    COMMENT ON COLUMN context_layer.coverage IS 'where the layer is complete: outside it, no feature does not mean none there';
    COMMENT ON COLUMN context_layer.coverage_basis IS 'gemeinden: the municipalities its features lie in (kept up to date); angegeben: given when loaded';
    COMMENT ON COLUMN context_layer.coverage_ags IS 'the municipalities (AGS) the coverage was given as, if it was';
    COMMENT ON COLUMN context_layer.covers IS 'the kinds whose coverage it speaks for (a B-Plan also for housing: wohngebiet)';

    CREATE TABLE context_layer_change (
        id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at              timestamptz NOT NULL DEFAULT clock_timestamp(),
        actor           text NOT NULL,
        action          text NOT NULL CONSTRAINT context_layer_change_action
                        CHECK (action IN ('geladen', 'ersetzt', 'entfernt')),
        layer           text NOT NULL,
        kind            text NOT NULL,
        checksum_before char(64),
        checksum_after  char(64),
        features_before integer,
        features_after  integer,
        changed         text[] NOT NULL DEFAULT '{{}}',
        rescored        integer NOT NULL DEFAULT 0,
        details         jsonb NOT NULL DEFAULT '{{}}'
    );
    CREATE INDEX context_layer_change_layer_idx ON context_layer_change (layer, at);
    COMMENT ON TABLE context_layer_change IS 'every load, replacement and removal of a context layer: who, when, what changed, how many parcels were re-scored';

    ALTER TABLE context_feature DROP CONSTRAINT context_feature_kind_code;
    ALTER TABLE context_feature ADD CONSTRAINT context_feature_kind_code CHECK (kind IN ({_kinds(KINDS)}));
    CREATE INDEX context_feature_bplan_geom_idx ON context_feature USING gist (geom) WHERE kind = 'bplan';
    ALTER TABLE context_feature ADD COLUMN layer_id bigint;
    """)
    # the layers of the features loaded before: one per kind and source
    for attribution, name in BUNDLED.items():
        op.execute(
            f"""INSERT INTO context_layer (name, kind, source, coverage_basis, covers, loaded_by)
                SELECT DISTINCT '{name}', kind, source, 'gemeinden', ARRAY[kind], 'migration 0020'
                  FROM context_feature WHERE source = '{attribution.replace("'", "''")}'"""
        )
    op.execute("""
    INSERT INTO context_layer (name, kind, source, coverage_basis, covers, loaded_by)
    SELECT DISTINCT f.kind || ': ' || f.source, f.kind, f.source, 'gemeinden', ARRAY[f.kind], 'migration 0020'
      FROM context_feature f
     WHERE NOT EXISTS (SELECT FROM context_layer l WHERE l.kind = f.kind AND l.source = f.source);
    UPDATE context_feature f SET layer_id = l.id FROM context_layer l WHERE l.kind = f.kind AND l.source = f.source;
    ALTER TABLE context_feature ALTER COLUMN layer_id SET NOT NULL;
    ALTER TABLE context_feature ADD CONSTRAINT context_feature_layer
        FOREIGN KEY (layer_id, kind) REFERENCES context_layer (id, kind) ON DELETE CASCADE;
    CREATE INDEX context_feature_layer_idx ON context_feature (layer_id);

    CREATE TABLE context_coverage (
        kind text PRIMARY KEY,
        geom geometry(MultiPolygon, 25832) NOT NULL
    );
    CREATE TABLE context_coverage_part (
        kind text NOT NULL,
        geom geometry(Polygon, 25832) NOT NULL
    );
    CREATE INDEX context_coverage_part_geom_idx ON context_coverage_part USING gist (geom);
    CREATE TABLE context_coverage_edge (
        kind text NOT NULL,
        geom geometry(LineString, 25832) NOT NULL
    );
    CREATE INDEX context_coverage_edge_geom_idx ON context_coverage_edge USING gist (geom);
    COMMENT ON TABLE context_coverage IS 'the union of the coverages of the layers that speak for a kind (derived from context_layer)';
    COMMENT ON TABLE context_coverage_part IS 'context_coverage cut into pieces of <= 256 vertices: is a parcel inside?';
    COMMENT ON TABLE context_coverage_edge IS 'the boundary of context_coverage cut into pieces: how near is its edge?';

    -- the municipalities a layer's features lie in, each feature by a point on its surface (a feature
    -- that only touches a neighbour along the generalised boundary does not bring it in)
    CREATE FUNCTION context_municipal_coverage(layer bigint) RETURNS geometry LANGUAGE sql STABLE AS $$
        SELECT coalesce(ST_Multi(ST_Union(m.geom)), 'SRID=25832;MULTIPOLYGON EMPTY'::geometry)
          FROM municipality m
         WHERE m.ags IN (SELECT mp.ags FROM context_feature f
                           JOIN municipality_part mp ON ST_Intersects(mp.geom, ST_PointOnSurface(f.geom))
                          WHERE f.layer_id = layer)
    $$;

    CREATE FUNCTION context_coverage_rebuild(kinds text[]) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM context_coverage WHERE kind = ANY (kinds);
        DELETE FROM context_coverage_part WHERE kind = ANY (kinds);
        DELETE FROM context_coverage_edge WHERE kind = ANY (kinds);
        INSERT INTO context_coverage (kind, geom)
        SELECT k, ST_Multi(ST_CollectionExtract(ST_Union(l.coverage), 3))
          FROM unnest(kinds) AS k JOIN context_layer l ON k = ANY (l.covers)
         WHERE NOT ST_IsEmpty(l.coverage)
         GROUP BY k;
        INSERT INTO context_coverage_part (kind, geom)
        SELECT kind, (ST_Dump(ST_Subdivide(geom, 256))).geom FROM context_coverage WHERE kind = ANY (kinds);
        INSERT INTO context_coverage_edge (kind, geom)
        SELECT kind, (ST_Dump(ST_Subdivide(ST_Boundary(geom), 256))).geom FROM context_coverage WHERE kind = ANY (kinds);
    END $$;

    CREATE FUNCTION context_layer_coverage_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM context_coverage_rebuild(NEW.covers);
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM context_coverage_rebuild(OLD.covers);
        ELSE
            PERFORM context_coverage_rebuild(OLD.covers || NEW.covers);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER context_layer_inserted AFTER INSERT ON context_layer
        FOR EACH ROW EXECUTE FUNCTION context_layer_coverage_changed();
    CREATE TRIGGER context_layer_deleted AFTER DELETE ON context_layer
        FOR EACH ROW EXECUTE FUNCTION context_layer_coverage_changed();
    CREATE TRIGGER context_layer_coverage_updated AFTER UPDATE ON context_layer
        FOR EACH ROW WHEN (OLD.coverage IS DISTINCT FROM NEW.coverage OR OLD.covers IS DISTINCT FROM NEW.covers)
        EXECUTE FUNCTION context_layer_coverage_changed();

    CREATE FUNCTION context_coverage_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        TRUNCATE context_coverage, context_coverage_part, context_coverage_edge;
        RETURN NULL;
    END $$;
    CREATE TRIGGER context_layer_truncated AFTER TRUNCATE ON context_layer
        FOR EACH STATEMENT EXECUTE FUNCTION context_coverage_truncated();

    -- a feature written without a layer (in SQL, not through landreg): the layer "kind: source"
    CREATE FUNCTION context_feature_layer() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        layer_name text := NEW.kind || ': ' || NEW.source;
    BEGIN
        INSERT INTO context_layer (name, kind, source, coverage_basis, covers, loaded_by)
        VALUES (layer_name, NEW.kind, NEW.source, 'gemeinden', ARRAY[NEW.kind], current_user)
        ON CONFLICT (name) DO NOTHING;
        SELECT id INTO NEW.layer_id FROM context_layer WHERE name = layer_name;
        RETURN NEW;
    END $$;
    CREATE TRIGGER context_feature_layer BEFORE INSERT ON context_feature
        FOR EACH ROW WHEN (NEW.layer_id IS NULL) EXECUTE FUNCTION context_feature_layer();

    -- after features changed: the count of each layer touched, and the coverage of those whose
    -- coverage is their municipalities
    CREATE FUNCTION context_layer_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE context_layer l SET features = (SELECT count(*) FROM context_feature f WHERE f.layer_id = l.id)
         WHERE l.id IN (SELECT layer_id FROM touched);
        UPDATE context_layer l SET coverage = context_municipal_coverage(l.id)
         WHERE l.id IN (SELECT layer_id FROM touched) AND l.coverage_basis = 'gemeinden';
        RETURN NULL;
    END $$;
    CREATE TRIGGER context_feature_inserted AFTER INSERT ON context_feature
        REFERENCING NEW TABLE AS touched FOR EACH STATEMENT EXECUTE FUNCTION context_layer_refresh();
    CREATE TRIGGER context_feature_updated AFTER UPDATE ON context_feature
        REFERENCING NEW TABLE AS touched FOR EACH STATEMENT EXECUTE FUNCTION context_layer_refresh();
    CREATE TRIGGER context_feature_deleted AFTER DELETE ON context_feature
        REFERENCING OLD TABLE AS touched FOR EACH STATEMENT EXECUTE FUNCTION context_layer_refresh();

    CREATE OR REPLACE FUNCTION context_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('landreg.context_rescored', true) IS DISTINCT FROM 'on' THEN
            UPDATE context_state SET changed_at = clock_timestamp();
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER context_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON context_layer
        FOR EACH STATEMENT EXECUTE FUNCTION context_changed();
    """)
    # the layers migrated: their counts and coverages (and so the coverage tables)
    op.execute("""
    UPDATE context_layer l SET features = (SELECT count(*) FROM context_feature f WHERE f.layer_id = l.id),
                               coverage = context_municipal_coverage(l.id);
    """)


def downgrade() -> None:
    op.execute(f"""
    DROP TRIGGER context_changed ON context_layer;
    {CONTEXT_CHANGED_BEFORE}
    DROP TRIGGER context_feature_inserted ON context_feature;
    DROP TRIGGER context_feature_updated ON context_feature;
    DROP TRIGGER context_feature_deleted ON context_feature;
    DROP TRIGGER context_feature_layer ON context_feature;
    DROP FUNCTION context_layer_refresh();
    DROP FUNCTION context_feature_layer();
    ALTER TABLE context_feature DROP CONSTRAINT context_feature_layer;
    ALTER TABLE context_feature DROP COLUMN layer_id;
    DELETE FROM context_feature WHERE kind = 'bplan';
    DROP INDEX context_feature_bplan_geom_idx;
    ALTER TABLE context_feature DROP CONSTRAINT context_feature_kind_code;
    ALTER TABLE context_feature ADD CONSTRAINT context_feature_kind_code CHECK (kind IN ({_kinds(KINDS_BEFORE)}));
    DROP TABLE context_layer_change;
    DROP TABLE context_layer;
    DROP FUNCTION context_coverage_truncated();
    DROP FUNCTION context_layer_coverage_changed();
    DROP FUNCTION context_coverage_rebuild(text[]);
    DROP FUNCTION context_municipal_coverage(bigint);
    DROP TABLE context_coverage_edge;
    DROP TABLE context_coverage_part;
    DROP TABLE context_coverage;
    """)
