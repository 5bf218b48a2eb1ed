"""Who is calling: bearer tokens resolved to a :class:`~landreg.auth.Principal`.

No token: the anonymous public (investor) view. A wrong or revoked token: 401, never a silent
downgrade to the public view.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from landreg.auth import Principal, authenticate

_bearer = HTTPBearer(auto_error=False, description="API token created with `landreg token create`")


def _authenticate(request: Request, token: str) -> Principal | None:
    with request.app.state.engine.begin() as conn:
        return authenticate(conn, token)


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
    return principal


def require_role(*roles: str):
    def dependency(principal: Annotated[Principal | None, Depends(get_principal)]) -> Principal:
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
PlannerDep = Annotated[Principal, Depends(require_role("planner"))]
MinistryDep = Annotated[Principal, Depends(require_role("ministry"))]
AuthenticatedDep = Annotated[Principal, Depends(require_role("planner", "ministry", "admin"))]
