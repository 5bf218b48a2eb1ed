"""The maps, served as HTML pages under ``/maps`` with the API's access control.

A request with a token gets the caller's view (confidential maps embed their parcels, since the
browser fetches tiles without the token); anonymous requests get the public map, drawn from the
vector tiles when it shows many parcels.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.ogc import _base, _lang
from api.repeats import refuse_repeats
from api.security import ERRORS, PrincipalDep
from landreg.access import view_of
from landreg.settings import get_settings
from maps import assets
from maps.base import Context, MapError
from maps.catalogue import MAPS, render
from maps.options import MapOptions, OptionError
from maps.texts import t

router = APIRouter(prefix="/maps", tags=["Karten / maps"], responses=ERRORS)
STATIC_PATH = "/maps/static"
static_files = StaticFiles(directory=assets.STATIC_DIR)

_LISTS = ("category", "availability", "status", "ags")
_NUMBERS = {
    "min_area": float,
    "max_area": float,
    "lat": float,
    "lon": float,
    "zoom": int,
    "top": int,
    "plan_check": int,
}
_TEXTS = ("lang", "profile", "metric")


def options_from(request: Request) -> MapOptions:
    """Map options from query parameters; empty values (a form's "alle") mean no filter."""
    q = request.query_params
    unknown = sorted(set(q) - set(_LISTS) - set(_NUMBERS) - set(_TEXTS))
    if unknown:
        raise HTTPException(400, f"unknown query parameter(s): {', '.join(unknown)}")
    refuse_repeats(request, (*_NUMBERS, *_TEXTS))  # a list may repeat; these take one value
    values: dict = {}
    for name in _LISTS:
        chosen = [v for raw in q.getlist(name) for v in raw.split(",") if v]
        if chosen:
            values[name] = chosen
    for name, kind in _NUMBERS.items():
        if q.get(name):
            try:
                values[name] = kind(q[name])
            except ValueError:
                raise HTTPException(400, f"{name}: {q[name]!r} is not a number") from None
    for name in _TEXTS:
        if q.get(name):
            values[name] = q[name]
    return MapOptions(**values)


@router.get("", response_class=HTMLResponse, summary="The maps")
def index(request: Request):
    lang = _lang(request)
    items = "".join(
        f'<li><a href="/maps/{name}?lang={lang}">{t(name, lang)}</a> – {t(name + ".sub", lang)}</li>' for name in MAPS
    )
    return HTMLResponse(
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{t("parcels", lang)}</title></head>'
        f"<body><h1>landreg – Karten / maps</h1><ul>{items}</ul></body></html>"
    )


@router.get("/{name}", response_class=HTMLResponse, summary="A map (HTML)")
def show(request: Request, name: Annotated[str, Path()], principal: PrincipalDep):
    if name not in MAPS:
        raise HTTPException(404, f"no map {name!r}; maps: {', '.join(MAPS)}")
    ctx = Context(
        static_url=STATIC_PATH,
        api_url=_base(request),
        view=view_of(principal),
        embed_max=get_settings().map_embed_max,
        principal=principal,
    )
    try:
        with request.app.state.engine.connect() as conn:
            html = render(conn, name, options_from(request), ctx)
    except (OptionError, MapError) as exc:
        raise HTTPException(400, str(exc)) from None
    return HTMLResponse(html, headers={"Cache-Control": "private, max-age=60" if principal else "public, max-age=60"})
