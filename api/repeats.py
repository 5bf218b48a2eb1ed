"""A query parameter that takes one value, given more than once, is refused (400, naming it).

Without this, ``?limit=1&limit=500`` was read as ``limit=500`` (the framework keeps the last value),
and ``?category=a&category=b`` as ``category=b``: an answer to a question the caller did not ask.
Parameters declared as lists take repeats as before. The workspace's pages read the same way: the
check runs for every route, as a dependency of the application, from each route's own declaration.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Sequence

from fastapi import Request
from fastapi.exceptions import RequestValidationError

#: Per route: the names of its query parameters that take one value.
_SINGLE: dict[int, frozenset[str]] = {}
_MANY = (list, tuple, set, frozenset, Sequence, Iterable)


def _takes_many(annotation) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return any(_takes_many(a) for a in typing.get_args(annotation))
    return (origin or annotation) in _MANY


def _query_fields(dependant) -> Iterable:
    """The query parameters of a route's dependant and of the dependencies it has, at any depth."""
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_fields(sub)


def _single(route) -> frozenset[str]:
    known = _SINGLE.get(id(route))
    if known is None:
        fields = _query_fields(route.dependant)
        known = frozenset(f.alias for f in fields if not _takes_many(f.field_info.annotation))
        _SINGLE[id(route)] = known
    return known


def refuse_repeats(request: Request, names: Iterable[str] | None = None) -> None:
    """Raise a validation error for each parameter of ``names`` (default: the route's declared ones
    that take one value) given more than once."""
    if names is None:
        route = request.scope.get("route")
        if route is None or not hasattr(route, "dependant"):
            return
        names = _single(route)
    query = request.query_params
    errors = [
        {"type": "repeated", "loc": ("query", name), "msg": f"given {n} times; give it once", "ctx": {"count": n}}
        for name in names
        if (n := len(query.getlist(name))) > 1
    ]
    if errors:
        raise RequestValidationError(errors)


async def single_values(request: Request) -> None:
    """The application's dependency: :func:`refuse_repeats` for the route's declared parameters."""
    if b"&" in request.scope.get("query_string", b""):  # one parameter cannot repeat
        refuse_repeats(request)
