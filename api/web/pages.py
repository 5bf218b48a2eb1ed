"""Rendering workspace pages: Jinja2 templates (autoescaped) with the language, the signed-in
person and the CSRF token of their session, so every form can carry it."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.web.session import current_session
from api.web.texts import LANGS, t

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
STATIC_PATH = "/app/static"
LANG_COOKIE = "landreg_lang"


def lang_of(request: Request) -> str:
    """``?lang=en`` or ``de`` chooses (and is remembered in a cookie); German by default."""
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return chosen if chosen in LANGS else "de"


def page(request: Request, template: str, context: dict | None = None, status_code: int = 200) -> HTMLResponse:
    lang = lang_of(request)
    current = current_session(request)
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "t": lambda key, **values: t(key, lang, **values),
            "session": current,
            "user": current.user if current else None,
            "csrf_token": current.csrf_token if current else "",
            "static": STATIC_PATH,
            **(context or {}),
        },
        status_code=status_code,
    )
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


def error_page(request: Request, status: int, message: str, field: str | None = None) -> HTMLResponse:
    return page(request, "error.html", {"status": status, "message": message, "field": field}, status_code=status)
