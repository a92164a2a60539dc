"""`/v1/files`: upload, list, retrieve, content, delete."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile

from retrievd.api import schemas
from retrievd.api.deps import CoreDep, PrincipalDep
from retrievd.errors import APIError, invalid
from retrievd.services.files import FileService
from retrievd.store.models import File

router = APIRouter(tags=["files"])

PURPOSES = ("assistants", "user_data", "batch", "fine-tune", "vision", "evals")


def file_object(row: File) -> schemas.FileObject:
    return schemas.FileObject(
        id=row.id,
        bytes=row.bytes,
        created_at=row.created_at,
        expires_at=row.expires_at,
        filename=row.filename,
        purpose=row.purpose,
    )


def _expires_after(form: dict[str, str]) -> int | None:
    """The SDK sends `expires_after` as the form fields `expires_after[anchor]` and `expires_after[seconds]`."""
    anchor, seconds = form.get("expires_after[anchor]"), form.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    try:
        parsed = schemas.FileExpiresAfter(anchor=anchor, seconds=int(seconds or 0))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise invalid(
            "expires_after needs anchor 'created_at' and seconds between 3600 and 2592000.", param="expires_after"
        ) from None
    return parsed.seconds


@router.post("/files", response_model=schemas.FileObject)
async def create_file(request: Request, core: CoreDep, principal: PrincipalDep) -> schemas.FileObject:
    length = request.headers.get("content-length")
    if length and length.isdecimal() and int(length) > core.settings.max_upload_bytes + 1024 * 1024:
        raise APIError(
            413, f"File is too large: the limit is {core.settings.max_upload_bytes} bytes.", param="file", code="file_too_large"
        )
    try:
        form = await request.form(max_files=1, max_fields=20)
    except Exception as e:
        raise invalid(f"The request must be multipart/form-data with a 'file' part: {e}", param="file") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise invalid("Missing required parameter: 'file'.", param="file")
    purpose = form.get("purpose")
    if not isinstance(purpose, str) or purpose not in PURPOSES:
        raise invalid(f"'purpose' must be one of {', '.join(PURPOSES)}.", param="purpose")
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    seconds = _expires_after(fields)
    service = FileService(core)
    try:
        row = service.create(principal.project_id, upload.file, upload.filename, purpose, seconds)
    finally:
        await upload.close()
    return file_object(row)


@router.get("/files", response_model=schemas.ListPage[schemas.FileObject])
def list_files(
    core: CoreDep,
    principal: PrincipalDep,
    purpose: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 10000,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
) -> schemas.ListPage[schemas.FileObject]:
    page = FileService(core).list(principal.project_id, purpose=purpose, limit=limit, order=order, after=after)
    data = [file_object(row) for row in page.items]
    return schemas.ListPage(
        data=data, first_id=data[0].id if data else None, last_id=data[-1].id if data else None, has_more=page.has_more
    )


@router.get("/files/{file_id}", response_model=schemas.FileObject)
def retrieve_file(file_id: str, core: CoreDep, principal: PrincipalDep) -> schemas.FileObject:
    return file_object(FileService(core).get(principal.project_id, file_id))


@router.get(
    "/files/{file_id}/content",
    response_class=FileResponse,
    responses={200: {"description": "The file's bytes.", "content": {"application/octet-stream": {}}}},
)
def file_content(file_id: str, core: CoreDep, principal: PrincipalDep) -> FileResponse:
    service = FileService(core)
    row = service.get(principal.project_id, file_id)
    return FileResponse(core.blobs.path(row.id), media_type="application/octet-stream", filename=row.filename)


@router.delete("/files/{file_id}", response_model=schemas.DeletedObject)
def delete_file(file_id: str, core: CoreDep, principal: PrincipalDep) -> schemas.DeletedObject:
    FileService(core).delete(principal.project_id, file_id)
    return schemas.DeletedObject(id=file_id, object="file")
