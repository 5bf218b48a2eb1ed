#!/usr/bin/env bash
# Rewrites migrations/schema.sql: migrates an empty database (in a throw-away cluster, like the
# tests) to head and writes its pg_dump --schema-only. tests/test_schema_dump.py checks it.
# Usage: scripts/dump-schema.sh   (after adding or changing a migration; commit the result)
set -euo pipefail
cd "$(dirname "$0")/.."
LANDREG_UPDATE_SCHEMA=1 ./run test tests/test_schema_dump.py -q -p no:cacheprovider "$@"
echo "migrations/schema.sql written (git diff migrations/schema.sql shows what changed)"
