"""The maps' JavaScript and CSS, shipped with landreg instead of loaded from CDNs.

Maps must draw their parcels where the internet is out of reach (an office network, the tests),
so Leaflet and Leaflet.VectorGrid are vendored in ``static/vendor`` (versions and licences in its
README). A served map links them under the API's ``/maps/static``; a map written to a file
carries them inline, so the file works anywhere on its own.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import folium

STATIC_DIR = Path(__file__).parent / "static"
LEAFLET_JS = "vendor/leaflet/leaflet.js"
LEAFLET_CSS = "vendor/leaflet/leaflet.css"
VECTORGRID_JS = "vendor/vectorgrid/Leaflet.VectorGrid.bundled.min.js"
LANDREG_JS = "landreg-map.js"
LANDREG_CSS = "landreg-map.css"


def use_local_assets(element: folium.Element, base_url: str, js: list[str], css: list[str] = ()) -> None:
    """Point an element's scripts and stylesheets at ``base_url`` (replacing folium's CDN defaults)."""
    element.default_js = [(Path(p).stem, f"{base_url}/{p}") for p in js]
    element.default_css = [(Path(p).stem + "_css", f"{base_url}/{p}") for p in css]


def _css_inline(path: str) -> str:
    """A stylesheet with its images as data URIs."""
    css = (STATIC_DIR / path).read_text(encoding="utf-8")
    folder = (STATIC_DIR / path).parent

    def data_uri(match: re.Match) -> str:
        image = folder / match.group(1)
        if not image.is_file():
            return match.group(0)
        return f"url(data:image/png;base64,{base64.b64encode(image.read_bytes()).decode()})"

    return re.sub(r"url\((images/[\w.-]+\.png)\)", data_uri, css)


def inline(html: str, base_url: str) -> str:
    """A rendered map with every linked asset under ``base_url`` inlined: one self-contained file."""

    def script(match: re.Match) -> str:
        code = (STATIC_DIR / match.group(1)).read_text(encoding="utf-8").replace("</script", "<\\/script")
        return f"<script>{code}</script>"

    def style(match: re.Match) -> str:
        return f"<style>{_css_inline(match.group(1))}</style>"

    base = re.escape(base_url)
    html = re.sub(rf'<script src="{base}/([\w./-]+\.js)"></script>', script, html)
    return re.sub(rf'<link rel="stylesheet" href="{base}/([\w./-]+\.css)"\s*/>', style, html)
