"""Who is calling: bearer tokens resolved to a :class:`~landreg.auth.Principal`.

No token: the anonymous public (investor) view. A wrong or revoked token: 401, never a silent
downgrade to the public view.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import DBAPIError

from landreg.access import View, view_of
from landreg.auth import Principal, TokenUsage, authenticate

log = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="API token created with `landreg token create`")


def _authenticate(request: Request, token: str) -> Principal | None:
    """Who the token belongs to (a read); its use is recorded in memory and written now and then."""
    with request.app.state.engine.connect() as conn:
        principal = authenticate(conn, token)
    if principal is not None:
        usage: TokenUsage = request.app.state.token_usage
        usage.record(principal.token_id)
        if usage.due():
            flush_token_usage(request.app)
    return principal


def flush_token_usage(app) -> None:
    """Write when tokens were last used; a failure (a read-only database) is logged, not the request's."""
    try:
        with app.state.engine.begin() as conn:
            app.state.token_usage.flush(conn)
    except DBAPIError as exc:
        log.warning("could not record token use: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)


async def get_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal | None:
    """Async, so that anonymous requests (most of them) skip a hop to the thread pool."""
    if credentials is None:
        return None
    principal = await run_in_threadpool(_authenticate, request, credentials.credentials)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"}
        )
    request.state.principal = principal  # for the request log (api.logs): who asked
    return principal


def require_role(*roles: str):
    async def dependency(principal: Annotated[Principal | None, Depends(get_principal)]) -> Principal:
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "this needs an API token", headers={"WWW-Authenticate": "Bearer"}
            )
        if principal.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the role {' or '.join(roles)}")
        return principal

    return dependency


#: Error answers every route may give; declared so that the OpenAPI document lists them.
ERRORS = {
    400: {"description": "invalid parameter, with a message naming it"},
    401: {"description": "missing, wrong or revoked token"},
    403: {"description": "the token's role or municipality does not allow this"},
    404: {"description": "not found (or not visible to the caller)"},
    422: {"description": "refused: the message names the field and the reason"},
    503: {"description": "the database is not reachable"},
}

PrincipalDep = Annotated[Principal | None, Depends(get_principal)]


async def get_view(
    principal: PrincipalDep,
    unreviewed: Annotated[
        bool,
        Query(
            description="also the changes not yet reviewed (reviewers, ministry, admins); default: the reviewed state"
        ),
    ] = False,
) -> View:
    """Async like :func:`get_principal`: no I/O, so no hop to the thread pool."""
    return view_of(principal, unreviewed)


ViewDep = Annotated[View, Depends(get_view)]
PlannerDep = Annotated[Principal, Depends(require_role("planner"))]
MinistryDep = Annotated[Principal, Depends(require_role("ministry"))]
AuthenticatedDep = Annotated[Principal, Depends(require_role("planner", "reviewer", "ministry", "admin"))]
