"""SQL of the parcel history (SQL:2011 system versioning, migration 0012) for a list of versioned
columns, so that a migration adding a parcel attribute recreates both with the new list:

    from migrations.history import history_sql          # or loaded by path, as 0012 does
    op.execute("ALTER TABLE parcel ADD COLUMN x text; ALTER TABLE parcel_past_version ADD COLUMN x text;")
    op.execute(history_sql([*OLD_COLUMNS, "x"]))

``landreg.fields.migration_sql`` gives the two ALTER TABLE statements for a new field.
"""


def parcel_version_view(columns: list[str]) -> str:
    names = ", ".join(columns)
    return f"""
    CREATE OR REPLACE VIEW parcel_version AS
        SELECT parcel_id, version, valid_from, valid_to, actor, {names} FROM parcel_past_version
        UNION ALL
        SELECT id, version, updated_at, NULL::timestamptz, updated_by, {names} FROM parcel WHERE retired_at IS NULL;
    COMMENT ON VIEW parcel_version IS 'every state a parcel ever had, valid in [valid_from, valid_to); open: current';
    """


def after_update_function(columns: list[str]) -> str:
    """An update that makes a new version or retires the parcel ends the old version."""
    return f"""
    CREATE OR REPLACE FUNCTION parcel_history_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO parcel_past_version (parcel_id, version, valid_from, valid_to, actor, {", ".join(columns)})
        SELECT o.id, o.version, o.updated_at, coalesce(n.retired_at, n.updated_at), o.updated_by,
               {", ".join(f"o.{c}" for c in columns)}
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE o.retired_at IS NULL AND (n.version <> o.version OR n.retired_at IS NOT NULL);
        RETURN NULL;
    END $$;
    """


def history_sql(columns: list[str]) -> str:
    return parcel_version_view(columns) + after_update_function(columns)
