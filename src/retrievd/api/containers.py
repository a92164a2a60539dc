"""`/v1/containers` and their files: what the SDK's `client.containers` calls."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile

from retrievd.api import schemas as common
from retrievd.api.deps import CoreDep, ListDep, PrincipalDep
from retrievd.errors import invalid
from retrievd.services.containers import (
    ContainerFileObject,
    ContainerObject,
    ContainerService,
    CreateContainerRequest,
)

router = APIRouter(tags=["containers"])


@router.post("/containers", response_model=ContainerObject)
def create_container(body: CreateContainerRequest, core: CoreDep, principal: PrincipalDep) -> ContainerObject:
    return ContainerService(core).create(principal.project_id, body)


@router.get("/containers", response_model=common.ListPage[ContainerObject])
def list_containers(
    core: CoreDep, principal: PrincipalDep, params: ListDep, name: str | None = None
) -> common.ListPage[ContainerObject]:
    items, has_more = ContainerService(core).list(
        principal.project_id, name=name, limit=params.limit, order=params.order, after=params.after
    )
    return common.ListPage.of(items, has_more)


@router.get("/containers/{container_id}", response_model=ContainerObject)
def retrieve_container(container_id: str, core: CoreDep, principal: PrincipalDep) -> ContainerObject:
    return ContainerService(core).get(principal.project_id, container_id)


@router.delete("/containers/{container_id}", response_model=common.DeletedObject)
def delete_container(container_id: str, core: CoreDep, principal: PrincipalDep) -> common.DeletedObject:
    ContainerService(core).delete(principal.project_id, container_id)
    return common.DeletedObject(id=container_id, object="container.deleted")


@router.post("/containers/{container_id}/files", response_model=ContainerFileObject)
async def create_container_file(
    container_id: str, request: Request, core: CoreDep, principal: PrincipalDep
) -> ContainerFileObject:
    """Multipart with the file's bytes (`file`), or JSON naming a Files API file (`file_id`)."""
    service = ContainerService(core)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise invalid("Missing required parameter: 'file'.", param="file")
        try:
            return service.add_file(
                principal.project_id, container_id, upload.file, upload.filename or "", "user"
            )
        finally:
            await upload.close()
    try:
        body = await request.json()
    except ValueError:
        body = None
    file_id = body.get("file_id") if isinstance(body, dict) else None
    if not isinstance(file_id, str):
        raise invalid("Provide 'file' (multipart) or 'file_id'.", param="file_id")
    return service.add_existing_file(principal.project_id, container_id, file_id)


@router.get("/containers/{container_id}/files", response_model=common.ListPage[ContainerFileObject])
def list_container_files(
    container_id: str, core: CoreDep, principal: PrincipalDep, params: ListDep
) -> common.ListPage[ContainerFileObject]:
    items, has_more = ContainerService(core).list_files(
        principal.project_id, container_id, limit=params.limit, order=params.order, after=params.after
    )
    return common.ListPage.of(items, has_more)


@router.get("/containers/{container_id}/files/{file_id}", response_model=ContainerFileObject)
def retrieve_container_file(
    container_id: str, file_id: str, core: CoreDep, principal: PrincipalDep
) -> ContainerFileObject:
    return ContainerService(core).get_file(principal.project_id, container_id, file_id)


@router.get("/containers/{container_id}/files/{file_id}/content", response_class=FileResponse)
def container_file_content(
    container_id: str, file_id: str, core: CoreDep, principal: PrincipalDep
) -> Response:
    path, name = ContainerService(core).file_content(principal.project_id, container_id, file_id)
    return FileResponse(path, media_type="application/octet-stream", filename=name)


@router.delete("/containers/{container_id}/files/{file_id}", response_model=common.DeletedObject)
def delete_container_file(
    container_id: str, file_id: str, core: CoreDep, principal: PrincipalDep
) -> common.DeletedObject:
    ContainerService(core).delete_file(principal.project_id, container_id, file_id)
    return common.DeletedObject(id=file_id, object="container.file.deleted")
