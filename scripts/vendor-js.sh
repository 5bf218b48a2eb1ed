#!/usr/bin/env bash
# Refreshes the vendored map libraries in maps/static/vendor from the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."
LEAFLET=1.9.4
VECTORGRID=1.3.0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "leaflet@$LEAFLET" "leaflet.vectorgrid@$VECTORGRID" >/dev/null && for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done)
out=maps/static/vendor
mkdir -p "$out/leaflet/images" "$out/vectorgrid"
cp "$work/leaflet-$LEAFLET/package/dist/"{leaflet.js,leaflet.css} "$work/leaflet-$LEAFLET/package/LICENSE" "$out/leaflet/"
cp "$work/leaflet-$LEAFLET/package/dist/images/"{layers,layers-2x,marker-icon,marker-icon-2x,marker-shadow}.png "$out/leaflet/images/"
cp "$work/leaflet.vectorgrid-$VECTORGRID/package/dist/Leaflet.VectorGrid.bundled.min.js" "$out/vectorgrid/"
sed -n '/BEER-WARE/,/beer in return/p' "$work/leaflet.vectorgrid-$VECTORGRID/package/README.md" > "$out/vectorgrid/LICENSE"
echo "vendored leaflet $LEAFLET and leaflet.vectorgrid $VECTORGRID into $out"
