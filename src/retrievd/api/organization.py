"""Admin endpoints shaped like OpenAI's Administration API: projects and their service accounts."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from retrievd.api.deps import AdminDep, CoreDep
from retrievd.api.schemas import Strict
from retrievd.services.projects import ProjectService
from retrievd.store.models import Project, ServiceAccount

router = APIRouter(prefix="/organization", tags=["organization"])


class ProjectObject(BaseModel):
    id: str
    object: Literal["organization.project"] = "organization.project"
    name: str
    created_at: int
    archived_at: int | None
    status: Literal["active", "archived"]


class ProjectList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ProjectObject]
    first_id: str | None
    last_id: str | None
    has_more: bool = False


class ProjectCreate(Strict):
    name: str


class ServiceAccountCreate(Strict):
    name: str


class ApiKeyObject(BaseModel):
    object: Literal["organization.project.service_account.api_key"] = "organization.project.service_account.api_key"
    value: str
    name: str
    created_at: int
    id: str


class ServiceAccountObject(BaseModel):
    object: Literal["organization.project.service_account"] = "organization.project.service_account"
    id: str
    name: str
    role: str
    created_at: int


class ServiceAccountCreated(ServiceAccountObject):
    api_key: ApiKeyObject


class ServiceAccountList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ServiceAccountObject]
    first_id: str | None
    last_id: str | None
    has_more: bool = False


def _project(p: Project) -> ProjectObject:
    return ProjectObject(id=p.id, name=p.name, created_at=p.created_at, archived_at=p.archived_at, status=p.status)  # type: ignore[arg-type]


def _account(a: ServiceAccount) -> ServiceAccountObject:
    return ServiceAccountObject(id=a.id, name=a.name, role=a.role, created_at=a.created_at)


@router.get("/projects", response_model=ProjectList)
def list_projects(core: CoreDep, _: AdminDep, include_archived: bool = False) -> ProjectList:
    data = [_project(p) for p in ProjectService(core.db).list_projects(include_archived)]
    return ProjectList(data=data, first_id=data[0].id if data else None, last_id=data[-1].id if data else None)


@router.post("/projects", response_model=ProjectObject)
def create_project(body: ProjectCreate, core: CoreDep, _: AdminDep) -> ProjectObject:
    return _project(ProjectService(core.db).create_project(body.name))


@router.get("/projects/{project_id}", response_model=ProjectObject)
def retrieve_project(project_id: str, core: CoreDep, _: AdminDep) -> ProjectObject:
    return _project(ProjectService(core.db).get_project(project_id))


@router.post("/projects/{project_id}", response_model=ProjectObject)
def modify_project(project_id: str, body: ProjectCreate, core: CoreDep, _: AdminDep) -> ProjectObject:
    return _project(ProjectService(core.db).modify_project(project_id, body.name))


@router.post("/projects/{project_id}/archive", response_model=ProjectObject)
def archive_project(project_id: str, core: CoreDep, _: AdminDep) -> ProjectObject:
    return _project(ProjectService(core.db).archive_project(project_id))


@router.get("/projects/{project_id}/service_accounts", response_model=ServiceAccountList)
def list_service_accounts(project_id: str, core: CoreDep, _: AdminDep) -> ServiceAccountList:
    data = [_account(a) for a in ProjectService(core.db).list_service_accounts(project_id)]
    return ServiceAccountList(data=data, first_id=data[0].id if data else None, last_id=data[-1].id if data else None)


@router.post("/projects/{project_id}/service_accounts", response_model=ServiceAccountCreated)
def create_service_account(project_id: str, body: ServiceAccountCreate, core: CoreDep, _: AdminDep) -> ServiceAccountCreated:
    account, key_row, key = ProjectService(core.db).create_service_account(project_id, body.name)
    return ServiceAccountCreated(
        **_account(account).model_dump(),
        api_key=ApiKeyObject(value=key, name=key_row.name, created_at=key_row.created_at, id=key_row.id),
    )


@router.get("/projects/{project_id}/service_accounts/{account_id}", response_model=ServiceAccountObject)
def retrieve_service_account(project_id: str, account_id: str, core: CoreDep, _: AdminDep) -> ServiceAccountObject:
    return _account(ProjectService(core.db).get_service_account(project_id, account_id))


@router.delete("/projects/{project_id}/service_accounts/{account_id}")
def delete_service_account(project_id: str, account_id: str, core: CoreDep, _: AdminDep) -> dict:
    ProjectService(core.db).delete_service_account(project_id, account_id)
    return {"object": "organization.project.service_account.deleted", "id": account_id, "deleted": True}
