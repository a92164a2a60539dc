"""Request-scoped dependencies: the core, the caller, and list parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Query, Request

from retrievd.core import Core
from retrievd.errors import APIError
from retrievd.services.projects import Principal, ProjectService


def get_core(request: Request) -> Core:
    return request.app.state.core


def get_principal(request: Request, core: Annotated[Core, Depends(get_core)]) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise APIError(
            401,
            "You didn't provide an API key. Send it in the Authorization header as 'Bearer YOUR_KEY'.",
            code="missing_api_key",
        )
    return ProjectService(core.db).authenticate(key.strip())


def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if not principal.is_admin:
        raise APIError(403, "This endpoint needs an admin API key.", type="permission_error", code="insufficient_permissions")
    return principal


CoreDep = Annotated[Core, Depends(get_core)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]


@dataclass(frozen=True)
class ListParams:
    limit: int
    order: Literal["asc", "desc"]
    after: str | None
    before: str | None


def list_params(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
    before: str | None = None,
) -> ListParams:
    return ListParams(limit, order, after, before)


ListDep = Annotated[ListParams, Depends(list_params)]
