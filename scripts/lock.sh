#!/usr/bin/env bash
# Regenerates requirements.lock: the exact version of every package that `pip install -e '.[test]'`
# needs (landreg's dependencies and its test extra, with all they depend on), for CPython 3.11 on
# Linux x86_64. scripts/setup.sh installs .venv from it, so CI tests exactly these versions.
#
#   scripts/lock.sh                      # after editing the dependencies in pyproject.toml
#   scripts/lock.sh --upgrade            # every package to the newest version pyproject.toml allows
#   scripts/lock.sh --upgrade-package X  # only X
#
# Versions already in requirements.lock are kept where pyproject.toml still allows them. Uses uv
# (`uv pip compile`): the one on PATH, or one installed into a throw-away virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if command -v uv >/dev/null; then
    uv=uv
else
    python3 -m venv "$work/venv"
    "$work/venv/bin/python" -m pip install --quiet 'uv>=0.13,<0.14'
    uv="$work/venv/bin/uv"
fi

# uv keeps the versions of the file it writes to: give it a copy of the lock, then add our header.
[ ! -f requirements.lock ] || cp requirements.lock "$work/lock"
"$uv" pip compile pyproject.toml \
    --extra test \
    --python-version 3.11 \
    --python-platform x86_64-unknown-linux-gnu \
    --no-emit-package landreg \
    --no-header \
    --output-file "$work/lock" \
    --quiet \
    "$@"
{
    echo "# Exact versions of everything landreg and its tests need (pyproject.toml with the test extra),"
    echo "# for CPython 3.11 on Linux x86_64. scripts/setup.sh installs it: pip install -r requirements.lock,"
    echo "# then pip install --no-deps -e . (CI does the same through ./run test)."
    echo "# Do not edit by hand. Refresh with: scripts/lock.sh  (after changing dependencies in"
    echo "# pyproject.toml; scripts/lock.sh --upgrade moves everything to the newest allowed versions)"
    cat "$work/lock"
} >requirements.lock
echo "requirements.lock written; ./run test (scripts/setup.sh) installs it into .venv"
