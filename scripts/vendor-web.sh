#!/usr/bin/env bash
# Refreshes the workspace's vendored front-end libraries (api/web/static/vendor) and axe-core for
# the accessibility tests (tests/vendor) from the npm registry. Versions are pinned here; the
# files and their licences are committed, so the workspace works without internet access.
set -euo pipefail
cd "$(dirname "$0")/.."
HTMX=2.0.8
GEOMAN=2.20.2
CHARTJS=4.5.1
SWAGGER_UI=5.31.0
REDOC=2.5.2
AXE=4.14.1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$HTMX" "@geoman-io/leaflet-geoman-free@$GEOMAN" "chart.js@$CHARTJS" \
    "swagger-ui-dist@$SWAGGER_UI" "redoc@$REDOC" "axe-core@$AXE" >/dev/null \
  && for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done)
out=api/web/static/vendor
mkdir -p "$out/htmx" "$out/geoman" "$out/chartjs" "$out/swagger-ui" "$out/redoc" tests/vendor/axe-core
cp "$work/htmx.org-$HTMX/package/dist/htmx.min.js" "$work/htmx.org-$HTMX/package/LICENSE" "$out/htmx/"
cp "$work/geoman-io-leaflet-geoman-free-$GEOMAN/package/dist/"{leaflet-geoman.js,leaflet-geoman.css} \
   "$work/geoman-io-leaflet-geoman-free-$GEOMAN/package/LICENSE" "$out/geoman/"
cp "$work/chart.js-$CHARTJS/package/dist/chart.umd.min.js" "$out/chartjs/"
cp "$work/chart.js-$CHARTJS/package/LICENSE.md" "$out/chartjs/LICENSE.md"
cp "$work/swagger-ui-dist-$SWAGGER_UI/package/"{swagger-ui-bundle.js,swagger-ui.css,LICENSE,NOTICE} "$out/swagger-ui/"
cp "$work/redoc-$REDOC/package/bundles/redoc.standalone.js" "$work/redoc-$REDOC/package/LICENSE" "$out/redoc/"
cp "$work/axe-core-$AXE/package/"{axe.min.js,LICENSE} tests/vendor/axe-core/
cat > "$out/README.md" <<TXT
# Vendored workspace libraries

Shipped with landreg so that the workspace and the API documentation work without internet
access (no CDN). Refresh with \`scripts/vendor-web.sh\` (uses \`npm pack\`; versions are pinned there).
Leaflet itself is shared with the maps (\`maps/static/vendor\`).

| library | version | npm package | licence |
| --- | --- | --- | --- |
| htmx (\`htmx/htmx.min.js\`) | $HTMX | \`htmx.org\` | BSD-0-Clause (\`htmx/LICENSE\`) |
| Leaflet-Geoman free (\`geoman/leaflet-geoman.js\`, \`.css\`) | $GEOMAN | \`@geoman-io/leaflet-geoman-free\` | MIT (\`geoman/LICENSE\`) |
| Chart.js (\`chartjs/chart.umd.min.js\`) | $CHARTJS | \`chart.js\` | MIT (\`chartjs/LICENSE.md\`) |
| Swagger UI (\`swagger-ui/swagger-ui-bundle.js\`, \`.css\`) | $SWAGGER_UI | \`swagger-ui-dist\` | Apache-2.0 (\`swagger-ui/LICENSE\`, \`NOTICE\`) |
| ReDoc (\`redoc/redoc.standalone.js\`) | $REDOC | \`redoc\` | MIT (\`redoc/LICENSE\`) |

axe-core $AXE (MPL-2.0, \`tests/vendor/axe-core/LICENSE\`) is vendored for the accessibility tests only.
TXT
echo "vendored htmx $HTMX, leaflet-geoman $GEOMAN, chart.js $CHARTJS, swagger-ui $SWAGGER_UI, redoc $REDOC, axe-core $AXE"
