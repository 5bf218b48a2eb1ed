"""SQL of the parcel history (SQL:2011 system versioning, migration 0012) for a list of versioned
columns, so that a migration adding a parcel attribute recreates both with the new list:

    from schema_history import history_sql   # alembic's prepend_sys_path puts migrations/ on the path
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


def after_update_function(columns: list[str], planned_each_time: bool = True) -> str:
    """An update that makes a new version or retires the parcel ends the old version.

    ``planned_each_time`` (0037): the statement is planned for each UPDATE's rows (EXECUTE). As plain
    SQL in the function its plan was made once per session, for the rows of the session's first
    update: after an edit of one parcel, a nested loop that compared every old row of a later large
    update with every new one (10,000 parcels: 31.8 s instead of 2.4 s; 100,000: 100 times that)."""
    statement = f"""INSERT INTO parcel_past_version (parcel_id, version, valid_from, valid_to, actor, {", ".join(columns)})
        SELECT o.id, o.version, o.updated_at, coalesce(n.retired_at, n.updated_at), o.updated_by,
               {", ".join(f"o.{c}" for c in columns)}
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE o.retired_at IS NULL AND (n.version <> o.version OR n.retired_at IS NOT NULL)"""
    if planned_each_time:
        statement = "EXECUTE '" + statement.replace("'", "''") + "'"
    return f"""
    CREATE OR REPLACE FUNCTION parcel_history_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {statement};
        RETURN NULL;
    END $$;
    """


def history_sql(columns: list[str], planned_each_time: bool = True) -> str:
    """The history view and trigger function for these versioned columns (migrations before 0037
    pass ``planned_each_time=False``: the text they created)."""
    return parcel_version_view(columns) + after_update_function(columns, planned_each_time)


def statement_history_functions(columns: list[str]) -> str:
    """The statement-level history triggers of 0004 to 0011 (each version copied into parcel_version)."""
    names = ", ".join(columns)
    new = ", ".join(f"n.{c}" for c in columns)
    return f"""
    CREATE OR REPLACE FUNCTION parcel_history_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO parcel_version (parcel_id, version, valid_from, actor, {names})
        SELECT n.id, n.version, n.updated_at, n.updated_by, {new} FROM new_rows n;
        RETURN NULL;
    END $$;

    CREATE OR REPLACE FUNCTION parcel_history_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE parcel_version v SET valid_to = coalesce(n.retired_at, n.updated_at)
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE v.parcel_id = n.id AND v.valid_to IS NULL
           AND (n.version <> o.version OR n.retired_at IS DISTINCT FROM o.retired_at);
        INSERT INTO parcel_version (parcel_id, version, valid_from, actor, {names})
        SELECT n.id, n.version, n.updated_at, n.updated_by, {new}
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.version <> o.version AND n.retired_at IS NULL;
        RETURN NULL;
    END $$;
    """


def row_history_function(columns: list[str]) -> str:
    """The row-level history trigger of 0001 to 0003 (each version copied into parcel_version)."""
    return f"""
    CREATE OR REPLACE FUNCTION parcel_after_write() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            IF NEW.version = OLD.version AND NEW.retired_at IS NOT DISTINCT FROM OLD.retired_at THEN
                RETURN NULL;  -- an update that changed nothing
            END IF;
            UPDATE parcel_version SET valid_to = coalesce(NEW.retired_at, NEW.updated_at)
             WHERE parcel_id = NEW.id AND valid_to IS NULL;
            IF NEW.retired_at IS NOT NULL THEN
                RETURN NULL;
            END IF;
        END IF;
        INSERT INTO parcel_version (parcel_id, version, valid_from, actor, {", ".join(columns)})
        VALUES (NEW.id, NEW.version, NEW.updated_at, NEW.updated_by, {", ".join("NEW." + c for c in columns)});
        RETURN NULL;
    END $$;
    """
