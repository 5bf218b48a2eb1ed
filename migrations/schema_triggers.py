"""Trigger SQL that several migrations create, replace or restore (imported by them: alembic's
prepend_sys_path puts this folder on the path). Changing a text here changes what a fresh database gets at every
migration that uses it: keep it as it was, and add a new function for a new behaviour.
"""

#: 0001's location rule: the municipality holding the largest share of the parcel, searched in the
#: whole boundaries (0004 replaces it by a search in subdivided parts).
LOCATION_BY_MUNICIPALITY = """
        IF TG_OP = 'UPDATE' AND NEW.geom = OLD.geom AND NEW.ags IS NOT DISTINCT FROM OLD.ags THEN
            RETURN NEW;
        END IF;
        -- The municipality holding the largest share of the parcel (boundaries are generalised,
        -- so a parcel on the border may overlap its neighbour a little).
        SELECT m.ags, m.name,
               CASE WHEN ST_Covers(m.geom, NEW.geom) THEN 1.0
                    ELSE ST_Area(ST_Intersection(m.geom, NEW.geom)) / ST_Area(NEW.geom) END AS share
          INTO best
          FROM municipality m
         WHERE ST_Intersects(m.geom, NEW.geom)
         ORDER BY share DESC
         LIMIT 1;
"""


# The location rules of 0001, unchanged in meaning, now looked up in municipality_part.
# The bulk importer checks locations set-wise for all rows before it writes them and then says
# so with SET LOCAL landreg.locations_checked = 'on', which spares the per-row repetition. This is
# a data-quality guard, not a security boundary: any role that may write parcels may as well
# write them through the importer.
LOCATION_CHECK = """
        IF TG_OP = 'UPDATE' AND NEW.geom = OLD.geom AND NEW.ags IS NOT DISTINCT FROM OLD.ags THEN
            RETURN NEW;
        END IF;
        IF NEW.ags IS NOT NULL AND current_setting('landreg.locations_checked', true) = 'on' THEN
            RETURN NEW;
        END IF;
        IF NEW.ags IS NULL THEN  -- wholly inside one piece of a municipality: that is the one
            SELECT p.ags INTO NEW.ags FROM municipality_part p WHERE ST_Covers(p.geom, NEW.geom) LIMIT 1;
            IF NEW.ags IS NOT NULL THEN
                RETURN NEW;
            END IF;
        ELSIF EXISTS (SELECT FROM municipality_part p WHERE p.ags = NEW.ags AND ST_Covers(p.geom, NEW.geom)) THEN
            RETURN NEW;  -- wholly inside one piece of the municipality it claims
        END IF;
        -- The municipality holding the largest share of the parcel (boundaries are generalised,
        -- so a parcel on the border may overlap its neighbour a little).
        SELECT p.ags, m.name, sum(ST_Area(ST_Intersection(p.geom, NEW.geom))) / ST_Area(NEW.geom) AS share
          INTO best
          FROM municipality_part p JOIN municipality m ON m.ags = p.ags
         WHERE ST_Intersects(p.geom, NEW.geom)
         GROUP BY p.ags, m.name
         ORDER BY share DESC
         LIMIT 1;
"""


def before_write(location_sql: str, derived: tuple[str, ...] = (), derived_on_retired: bool = False) -> str:
    """The row trigger that checks and derives a parcel's location, validity and version (0001);
    ``location_sql`` finds the municipality holding the largest share of the parcel (into ``best``).
    ``derived``: columns the registry derives and writes itself (0015: ``public_since``); a change of
    only these is written without a new version. ``derived_on_retired`` (0016): such a change is
    written on a retired parcel too (whose retirement may still wait for review)."""
    keys = ", ".join(
        f"'{k}'" for k in ("version", "area_m2", "created_at", "created_by", "updated_at", "updated_by", *derived)
    )
    only_derived = ""
    if derived:
        changed = " OR ".join(f"NEW.{k} IS DISTINCT FROM OLD.{k}" for k in derived)
        only_derived = f"""
                IF {changed} THEN
                    RETURN NEW;  -- only what the registry derives changed: no new version
                END IF;"""
    retired_check = """
            IF OLD.retired_at IS NOT NULL THEN
                RAISE EXCEPTION 'parcel % of municipality % is retired and cannot be changed', OLD.local_ref, OLD.ags
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'parcel_retired_read_only';
            END IF;"""
    return f"""
    CREATE OR REPLACE FUNCTION parcel_before_write() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        unchanged_keys text[] := ARRAY[{keys}];
        best record;
        claimed_name text;
    BEGIN
        IF TG_OP = 'UPDATE' THEN{retired_check if not derived_on_retired else ""}
            IF (to_jsonb(NEW) - unchanged_keys) = (to_jsonb(OLD) - unchanged_keys) THEN{only_derived}
                RETURN OLD;  -- nothing changed: the row stays as it was, no new version
            END IF;{retired_check if derived_on_retired else ""}
            NEW.id := OLD.id;
            NEW.created_at := OLD.created_at;
            NEW.created_by := OLD.created_by;
            NEW.updated_at := clock_timestamp();
            IF NEW.retired_at IS NOT NULL THEN
                IF (to_jsonb(NEW) - unchanged_keys - ARRAY['retired_at', 'retired_by'])
                   <> (to_jsonb(OLD) - unchanged_keys - ARRAY['retired_at', 'retired_by']) THEN
                    RAISE EXCEPTION 'parcel % of municipality %: retiring a parcel cannot change it at the same time', OLD.local_ref, OLD.ags
                        USING ERRCODE = 'check_violation', CONSTRAINT = 'parcel_retired_read_only';
                END IF;
                NEW.retired_at := NEW.updated_at;
                NEW.updated_by := coalesce(NEW.retired_by, NEW.updated_by);
                NEW.retired_by := NEW.updated_by;
                NEW.version := OLD.version;
                RETURN NEW;
            END IF;
            NEW.version := OLD.version + 1;
        ELSE
            NEW.created_at := clock_timestamp();
            NEW.updated_at := NEW.created_at;
            NEW.updated_by := coalesce(NEW.updated_by, NEW.created_by);
            NEW.version := 1;
            NEW.retired_at := NULL;
            NEW.retired_by := NULL;
        END IF;

        IF ST_IsEmpty(NEW.geom) THEN
            RAISE EXCEPTION 'geometry is empty'
                USING ERRCODE = 'check_violation', COLUMN = 'geom', CONSTRAINT = 'parcel_geom_valid';
        END IF;
        IF NOT ST_IsValid(NEW.geom) THEN
            RAISE EXCEPTION 'geometry is not valid: %', ST_IsValidReason(NEW.geom)
                USING ERRCODE = 'check_violation', COLUMN = 'geom', CONSTRAINT = 'parcel_geom_valid';
        END IF;
{location_sql}
        IF best.ags IS NULL THEN
            RAISE EXCEPTION 'parcel % lies outside every municipality in the registry', NEW.local_ref
                USING ERRCODE = 'check_violation', COLUMN = 'geom', CONSTRAINT = 'parcel_in_municipality';
        END IF;
        IF NEW.ags IS NULL THEN
            NEW.ags := best.ags;
        ELSIF NEW.ags <> best.ags THEN
            SELECT name INTO claimed_name FROM municipality WHERE ags = NEW.ags;
            RAISE EXCEPTION 'parcel % lies in % % (% %% of its area), not in the municipality it claims: % %',
                    NEW.local_ref, best.ags, best.name, round(best.share * 100),
                    NEW.ags, coalesce(claimed_name, '(unknown AGS)')
                USING ERRCODE = 'check_violation', COLUMN = 'ags', CONSTRAINT = 'parcel_in_municipality';
        END IF;
        RETURN NEW;
    END $$;
    """


#: 0011: the importer vouches for validity and location (``SET LOCAL landreg.locations_checked``).
VALIDITY = """
        IF ST_IsEmpty(NEW.geom) THEN"""
VOUCHED = """
        IF NEW.ags IS NOT NULL AND current_setting('landreg.locations_checked', true) = 'on' THEN
            RETURN NEW;  -- the importer has checked validity and location (the CHECK constraint still guards)
        END IF;
        IF ST_IsEmpty(NEW.geom) THEN"""


def vouched_before_write(derived: tuple[str, ...] = (), derived_on_retired: bool = False) -> str:
    """The row trigger as 0011 left it (and 0015 with its derived column, 0016 on retired parcels too)."""
    text = before_write(LOCATION_CHECK, derived, derived_on_retired)
    assert text.count(VALIDITY) == 1
    return text.replace(VALIDITY, VOUCHED)


#: 0015's derivation of ``public_since`` from a parcel's own changes (0016 keeps it on retirement;
#: its downgrade restores this). Prefixed with CREATE or CREATE OR REPLACE.
PUBLICATION_STATE_0015 = """
    FUNCTION parcel_publication_state() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.retired_at IS NOT NULL THEN
            NEW.public_since := NULL;
        ELSIF TG_OP = 'INSERT' OR NEW.category IS DISTINCT FROM OLD.category OR NEW.ags IS DISTINCT FROM OLD.ags
              OR NEW.publication_allowed IS DISTINCT FROM OLD.publication_allowed THEN
            NEW.public_since := parcel_public_since(NEW.id, NEW.ags, NEW.category, NEW.publication_allowed);
        END IF;
        RETURN NEW;
    END $$;
"""

#: 0016's: a retired parcel keeps its day (its retirement may wait for review); from 0034 on the
#: triggers' WHEN conditions choose the rows (its downgrade restores this). Prefixed like the one above.
PUBLICATION_STATE_0016 = """
    FUNCTION parcel_publication_state() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' OR NEW.category IS DISTINCT FROM OLD.category OR NEW.ags IS DISTINCT FROM OLD.ags
           OR NEW.publication_allowed IS DISTINCT FROM OLD.publication_allowed THEN
            NEW.public_since := parcel_public_since(NEW.id, NEW.ags, NEW.category, NEW.publication_allowed);
        END IF;
        RETURN NEW;
    END $$;
"""

#: 0015's derivation of ``public_since`` after a notice or an objection (0016 includes retired parcels
#: whose retirement waits for review; its downgrade restores this). Prefixed like the one above.
PUBLICATION_CHANGED_0015 = """
    FUNCTION publication_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        concerned uuid[];
    BEGIN
        IF TG_TABLE_NAME = 'objection' THEN
            concerned := ARRAY(SELECT parcel_id FROM new_rows);
        ELSE  -- publication_notice: every parcel of its municipality
            concerned := ARRAY(SELECT id FROM parcel WHERE ags IN (SELECT ags FROM new_rows) AND retired_at IS NULL);
        END IF;
        UPDATE parcel p SET public_since = parcel_public_since(p.id, p.ags, p.category, p.publication_allowed)
         WHERE p.id = ANY (concerned) AND p.retired_at IS NULL
           AND p.public_since IS DISTINCT FROM parcel_public_since(p.id, p.ags, p.category, p.publication_allowed);
        RETURN NULL;
    END $$;
"""


#: How :func:`tile_changed` counts the rows a statement changed: 0025 every one; 0036 up to 1,001,
#: all it compares (with 0 and 1,000), without joining a million rows to the parcels to count them.
COUNT_EVERY_ROW = "'SELECT count(*) FROM (' || TG_ARGV[0] || ') AS c'"
COUNT_UP_TO_1001 = "'SELECT count(*) FROM (SELECT FROM (' || TG_ARGV[0] || ') AS c LIMIT 1001) AS c'"


#: 0037: an UPDATE of more than 1,000 rows joins its transition tables without nested loops. The count of 0036
#: stops at 1,001 changed rows, so the planner takes a nested loop over old and new rows (it expects
#: to stop early); where few of them differ, it compares every old row with every new one: for a full
#: run's 500,000 indicators of a shard (values unchanged) it did not end in 2 minutes, with hashing
#: it takes 6.7 s with the update itself. Smaller statements keep nested loops (0031: an index lookup
#: per row beats hashing the parcels).
LARGE_UPDATES_HASHED = """
        IF TG_OP = 'UPDATE' THEN
            EXECUTE 'SELECT count(*) FROM (SELECT FROM new_rows LIMIT 1001) AS s' INTO rows_changed;
            IF rows_changed > 1000 THEN  -- until the function returns:
                PERFORM set_config('enable_nestloop', 'off', true);
                PERFORM set_config('jit', 'off', true);  -- the penalty on nested loops would start compiling
            END IF;
        END IF;"""

#: 0038: and without merge joins. The transition tables have no statistics; the planner took the
#: hash of one for badly skewed and sorted both instead (550,000 scores of a full run: 1.46 s against
#: 0.56 s hashed), and then, the sort being slow to start, hashed all of ``parcel`` before it found
#: that no row had changed.
LARGE_UPDATES_HASHED_NOT_SORTED = LARGE_UPDATES_HASHED.replace(
    """
                PERFORM set_config('jit', 'off', true);""",
    """
                PERFORM set_config('enable_mergejoin', 'off', true);
                PERFORM set_config('jit', 'off', true);""",
)


#: 0039: the 2 km cells of a large statement's outlines grouped by hashing, not by sorting every outline
#: (the planner, unable to count the cells, expects a group per outline): the adoption of 1M parcels'
#: indicators after an import recorded its cells in 2.1 s instead of 4.2 s, an import's parcels the same.
LARGE_GROUPINGS_HASHED = """
            IF rows_changed > 1000 THEN
                PERFORM set_config('enable_sort', 'off', true);  -- until the function returns
            END IF;"""


def tile_changed(count: str, settings: str = "", plan: str = "", grouping: str = "") -> str:
    """0025's statement trigger that records the outlines a statement changed in ``tile_invalidation``:
    ``count`` (an SQL text expression) counts them, ``settings`` are the function's SET clauses,
    ``plan`` (PL/pgSQL) sets how its statements are planned, ``grouping`` how their outlines are
    grouped into cells."""
    return f"""
CREATE OR REPLACE FUNCTION tile_changed() RETURNS trigger LANGUAGE plpgsql{settings} AS $$
    DECLARE
        rows_changed bigint;
    BEGIN{plan}
        -- TG_ARGV[0]: the changed outlines (columns layer, g) over this operation's transition tables
        EXECUTE {count} INTO rows_changed;
        IF rows_changed = 0 THEN
            RETURN NULL;
        END IF;
        IF rows_changed > 1000 AND TG_TABLE_NAME = 'parcel_score' THEN
            INSERT INTO tile_invalidation (layer) VALUES ('scores');
        ELSE
            -- one row per outline (1 m cells), or per 2 km cell of a large statement{grouping}
            EXECUTE 'INSERT INTO tile_invalidation (layer, west, south, east, north)
                     SELECT layer, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
                       FROM (SELECT layer, ST_Transform(ST_SetSRID(ST_Extent(g)::geometry, 25832), 3857) AS e
                               FROM (' || TG_ARGV[0] || ') AS c
                              GROUP BY layer, floor(ST_XMin(g) / $1::float8), floor(ST_YMin(g) / $1::float8)) AS cells'
            USING CASE WHEN rows_changed > 1000 THEN 2000.0 ELSE 1.0 END;
        END IF;
        IF random() < 0.01 THEN
            DELETE FROM tile_invalidation WHERE changed_at < clock_timestamp() - interval '1 day';
        END IF;
        RETURN NULL;
    END $$;

"""
