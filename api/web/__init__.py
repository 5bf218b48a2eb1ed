"""The workspace: server-rendered pages for people (Jinja2 templates, a little htmx), German first.

Each area is a module with its ``router`` and its ``NAV`` entries; pages parse input, call the
core's use cases as the signed-in person (:mod:`api.web.session`) and render a template. Errors of
pages under ``/app`` are pages too (:func:`api.web.pages.error_page`), with the core's messages.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.web import auth, dashboard, imports, inbox, landing, planner, plans, profiles, reviewing
from api.web.pages import STATIC_PATH, TEMPLATES
from api.web.session import SignedIn
from api.web.texts import register

AREAS = (landing, auth, planner, imports, reviewing, inbox, dashboard, profiles, plans)
STATIC_DIR = Path(__file__).parent / "static"
static_files = StaticFiles(directory=STATIC_DIR)

router = APIRouter(include_in_schema=False)
for area in AREAS:
    router.include_router(area.router)

register({"home.title": ("Arbeitsbereich", "Workspace")})


def nav_items(user) -> list[dict]:
    """The navigation of a signed-in person's role (nothing for the public)."""
    if user is None:
        return []
    return [
        {"href": href, "label": label}
        for area in AREAS
        for href, label, roles in area.NAV
        if not roles or user.role in roles
    ]


TEMPLATES.env.globals["nav_items"] = nav_items


@router.get("/app")
def home(current: SignedIn):
    """The first page after signing in: the first area of the person's role."""
    items = nav_items(current.user)
    return RedirectResponse(items[0]["href"] if items else "/", status_code=303)


__all__ = ["STATIC_PATH", "router", "static_files"]
