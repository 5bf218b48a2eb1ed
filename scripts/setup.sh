#!/usr/bin/env bash
# Sets up what landreg needs on Debian/Ubuntu, and nothing that is there already:
#   - the system packages: Python >= 3.11 with venv, PostgreSQL + PostGIS (unless a database URL
#     is given), installed with apt when we are root or may use sudo, otherwise named exactly;
#   - the project's virtual environment in .venv with landreg and its test tools, in the exact
#     versions of requirements.lock.
# Usage: scripts/setup.sh [demo|test]   (test: also LANDREG_TEST_DATABASE_URL counts as a database)
set -euo pipefail
cd "$(dirname "$0")/.."

purpose=${1:-demo}
say() { printf '\033[1m[landreg setup]\033[0m %s\n' "$*"; }

# --- which system packages are missing --------------------------------------------------------
python_ok() { "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
PYTHON=""
for candidate in ${LANDREG_PYTHON:-} python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null && python_ok "$candidate"; then PYTHON=$candidate; break; fi
done

packages=()
[ -n "$PYTHON" ] || packages+=(python3 python3-venv)

# The site exposé's PDF (WeasyPrint) lays out text with Pango and needs at least one font.
if ! compgen -G '/usr/lib/*/libpangoft2-1.0.so.0' >/dev/null && [ ! -e /usr/lib/libpangoft2-1.0.so.0 ]; then
    packages+=(libpango-1.0-0 libpangoft2-1.0-0)
fi
if ! command -v fc-list >/dev/null || [ -z "$(fc-list 2>/dev/null | head -1)" ]; then
    packages+=(fontconfig fonts-dejavu-core)
fi

needs_server=yes
[ -n "${LANDREG_DATABASE_URL:-}" ] && needs_server=no
[ "$purpose" = test ] && [ -n "${LANDREG_TEST_DATABASE_URL:-}" ] && needs_server=no

pg_major() {  # newest PostgreSQL server installed under Debian's layout
    ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sed -E 's#.*/([0-9]+)/bin/initdb#\1#' | sort -n | tail -1
}
if [ "$needs_server" = yes ]; then
    major=$(pg_major)
    if [ -z "$major" ]; then
        packages+=("postgresql-${LANDREG_PG_MAJOR:-15}" "postgresql-${LANDREG_PG_MAJOR:-15}-postgis-3")
    elif [ ! -f "/usr/share/postgresql/$major/extension/postgis.control" ]; then
        packages+=("postgresql-$major-postgis-3")
    fi
fi

# The tests also drive GDAL's command line tools against the API (OAPIF driver).
# Optional: without them those tests are skipped with a message naming the package.
optional=()
if [ "$purpose" = test ] && ! command -v ogrinfo >/dev/null; then
    optional+=(gdal-bin)
fi
# ... and open the investor map in headless Chromium (Selenium drives Debian's chromedriver).
if [ "$purpose" = test ] && { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }; then
    optional+=(chromium chromium-driver)
fi
can_apt=no
if [ "$(id -u)" -eq 0 ] || { command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [ -t 0 ]; }; }; then
    can_apt=yes
fi
if [ ${#optional[@]} -gt 0 ]; then
    if [ "$can_apt" = yes ]; then
        packages+=("${optional[@]}")
    else
        say "Not installed (no root or sudo): ${optional[*]} - the tests that need them are skipped."
    fi
fi

# --- install them, or say exactly what to install ---------------------------------------------
if [ ${#packages[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        apt=(apt-get)
    elif command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
        apt=(sudo apt-get)
    else
        say "Missing system packages. Please install them and run this again:"
        echo "    sudo apt-get update && sudo apt-get install -y ${packages[*]}"
        exit 1
    fi
    say "Installing ${packages[*]} (apt) ..."
    export DEBIAN_FRONTEND=noninteractive
    "${apt[@]}" update -qq
    if ! "${apt[@]}" install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; then
        say "apt could not install ${packages[*]}."
        say "On releases without PostgreSQL 15, set LANDREG_PG_MAJOR to the version they ship (e.g. 16)."
        exit 1
    fi
    if [ -z "$PYTHON" ]; then
        for candidate in python3.13 python3.12 python3.11 python3; do
            if command -v "$candidate" >/dev/null && python_ok "$candidate"; then PYTHON=$candidate; break; fi
        done
        [ -n "$PYTHON" ] || { say "landreg needs Python 3.11 or newer; this system's python3 is older."; exit 1; }
    fi
fi

# --- the virtual environment ------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
    say "Creating the virtual environment (.venv) with $PYTHON ..."
    "$PYTHON" -m venv .venv
fi
# The exact versions in requirements.lock (scripts/lock.sh refreshes it), then landreg itself.
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ] || [ requirements.lock -nt .venv/.installed ]; then
    say "Installing landreg and its dependencies (requirements.lock) into .venv (first time: a few minutes) ..."
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -r requirements.lock
    .venv/bin/python -m pip install --quiet --no-deps -e .
    touch .venv/.installed
fi
