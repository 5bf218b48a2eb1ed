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

from api.web import (
    alerts,
    auth,
    dashboard,
    downloads,
    drawing,
    imports,
    inbox,
    landing,
    planner,
    plans,
    profiles,
    reviewing,
    sites,
)
from api.web.pages import STATIC_PATH, TEMPLATES
from api.web.session import SignedIn
from api.web.texts import register

AREAS = (
    landing,
    auth,
    planner,
    drawing,
    imports,
    reviewing,
    inbox,
    dashboard,
    profiles,
    plans,
    downloads,
    alerts,
    sites,
)
STATIC_DIR = Path(__file__).parent / "static"
static_files = StaticFiles(directory=STATIC_DIR)

router = APIRouter(include_in_schema=False)
for area in AREAS:
    router.include_router(area.router)

register({"home.title": ("Arbeitsbereich", "Workspace")})


def nav_items(user, path: str = "") -> list[dict]:
    """The navigation of a signed-in person's role (nothing for the public); ``current`` marks the
    entry whose path is the longest prefix of ``path`` (``/app/flaechen/neu`` is "Neue Fläche",
    not "Meine Flächen")."""
    if user is None:
        return []
    items = [
        {"href": href, "label": label, "current": False}
        for area in AREAS
        for href, label, roles in area.NAV
        if not roles or user.role in roles
    ]
    matching = [i for i in items if path == i["href"] or path.startswith(i["href"].rstrip("/") + "/")]
    if matching:
        max(matching, key=lambda i: len(i["href"]))["current"] = True
    return items


def nav_badge(request, href: str) -> int:
    """A count beside a navigation entry (e.g. unread notifications): an area's ``BADGES`` maps its
    path to a function of the request (a read); 0: none shown."""
    for area in AREAS:
        count = getattr(area, "BADGES", {}).get(href)
        if count is not None:
            return count(request)
    return 0


TEMPLATES.env.globals["nav_items"] = nav_items
TEMPLATES.env.globals["nav_badge"] = nav_badge


@router.get("/app")
def home(current: SignedIn):
    """The first page after signing in: the first area of the person's role."""
    first = {"reviewer": "/app/pruefung", "ministry": "/app/gemeinden"}.get(current.user.role)
    items = nav_items(current.user)
    return RedirectResponse(first or (items[0]["href"] if items else "/"), status_code=303)


__all__ = ["STATIC_PATH", "router", "static_files"]
