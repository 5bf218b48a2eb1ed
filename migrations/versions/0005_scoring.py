"""Scoring: versioned profiles, per-parcel indicators, and scores that say what produced them.

* ``scoring_profile``: one row per version of a profile; a change inserts a new version.
* ``parcel_indicator``: the raw criterion values of a parcel version that need the context
  layers (distances, intersections), computed in PostGIS.
* ``parcel_score``: a parcel's score under one profile version, with the parcel version it was
  computed from, so a stale score can always be told apart from a current one.
* Partial spatial indexes per context layer kind, for nearest-feature (KNN) searches.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KINDS = ["bahnhof", "haltestelle", "autobahnanschluss", "hafen", "wohngebiet", "ueberschwemmungsgebiet", "schutzgebiet"]


def upgrade() -> None:
    for kind in KINDS:
        op.execute(
            f"CREATE INDEX context_feature_{kind}_geom_idx ON context_feature USING gist (geom) WHERE kind = '{kind}'"
        )
    op.execute("""
    CREATE TABLE context_state (
        singleton  boolean PRIMARY KEY DEFAULT true CONSTRAINT context_state_singleton CHECK (singleton),
        changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    INSERT INTO context_state DEFAULT VALUES;
    COMMENT ON TABLE context_state IS 'when a context layer last changed: indicators computed before are stale';
    CREATE FUNCTION context_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE context_state SET changed_at = clock_timestamp();
        RETURN NULL;
    END $$;
    CREATE TRIGGER context_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON context_feature
        FOR EACH STATEMENT EXECUTE FUNCTION context_changed();

    CREATE TABLE scoring_profile (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name        text NOT NULL CONSTRAINT scoring_profile_name_format CHECK (name ~ '^[a-z0-9][a-z0-9-]*$'),
        version     integer NOT NULL,
        title       text NOT NULL,
        purpose     text NOT NULL,
        method      text NOT NULL CONSTRAINT scoring_profile_method CHECK (method IN ('weighted_sum', 'topsis')),
        definition  jsonb NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        created_by  text NOT NULL,
        CONSTRAINT scoring_profile_version_unique UNIQUE (name, version)
    );
    COMMENT ON TABLE scoring_profile IS 'every version of every scoring profile; the highest version is current';

    CREATE TABLE scoring_run (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        profile_id  bigint NOT NULL REFERENCES scoring_profile (id),
        finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        actor       text NOT NULL,
        parcels     integer NOT NULL,
        reference   jsonb NOT NULL
    );
    COMMENT ON COLUMN scoring_run.reference IS 'what single re-scorings reuse until the next full run (TOPSIS norms and ideals)';

    CREATE TABLE parcel_indicator (
        parcel_id          uuid PRIMARY KEY REFERENCES parcel (id),
        parcel_version     integer NOT NULL,
        computed_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
        dist_rail_station_m double precision,
        transit_access     double precision,
        dist_motorway_m    double precision,
        dist_port_m        double precision,
        dist_residential_m double precision,
        in_flood_zone      boolean,
        in_protected_area  boolean
    );
    COMMENT ON TABLE parcel_indicator IS 'criterion values that need context layers; NULL where the layer is missing';

    CREATE TABLE parcel_score (
        parcel_id        uuid NOT NULL REFERENCES parcel (id),
        profile_id       bigint NOT NULL REFERENCES scoring_profile (id),
        parcel_version   integer NOT NULL,
        score            double precision,
        coverage         double precision NOT NULL,
        excluded_by      text[] NOT NULL DEFAULT '{}',
        computed_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (profile_id, parcel_id),
        CONSTRAINT parcel_score_range CHECK (score IS NULL OR score BETWEEN 0 AND 100)
    );
    CREATE INDEX parcel_score_rank_idx ON parcel_score (profile_id, score DESC NULLS LAST);
    CREATE INDEX parcel_score_parcel_idx ON parcel_score (parcel_id);
    COMMENT ON COLUMN parcel_score.coverage IS 'share of the profile''s weight whose criteria could be evaluated';
    COMMENT ON COLUMN parcel_score.excluded_by IS 'exclusion filters that remove the parcel from the ranking';
    """)


def downgrade() -> None:
    op.execute("""
    DROP TABLE parcel_score; DROP TABLE parcel_indicator; DROP TABLE scoring_run; DROP TABLE scoring_profile;
    DROP TRIGGER context_changed ON context_feature; DROP FUNCTION context_changed(); DROP TABLE context_state;
    """)
    for kind in KINDS:
        op.execute(f"DROP INDEX context_feature_{kind}_geom_idx")
