"""`/v1/vector_stores`: stores, store files, file batches, search."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from retrievd.api import schemas
from retrievd.api.deps import CoreDep, ListDep, PrincipalDep
from retrievd.services.search import SearchService
from retrievd.services.vector_stores import VectorStoreService

router = APIRouter(tags=["vector_stores"])
FileStatus = Literal["in_progress", "completed", "failed", "cancelled"]


@router.post("/vector_stores", response_model=schemas.VectorStoreObject)
def create_store(body: schemas.CreateVectorStoreRequest, core: CoreDep, principal: PrincipalDep) -> schemas.VectorStoreObject:
    return VectorStoreService(core).create(principal.project_id, body)


@router.get("/vector_stores", response_model=schemas.ListPage[schemas.VectorStoreObject])
def list_stores(core: CoreDep, principal: PrincipalDep, params: ListDep) -> schemas.ListPage[schemas.VectorStoreObject]:
    items, has_more = VectorStoreService(core).list(
        principal.project_id, limit=params.limit, order=params.order, after=params.after, before=params.before
    )
    return schemas.ListPage.of(items, has_more)


@router.get("/vector_stores/{store_id}", response_model=schemas.VectorStoreObject)
def retrieve_store(store_id: str, core: CoreDep, principal: PrincipalDep) -> schemas.VectorStoreObject:
    return VectorStoreService(core).get(principal.project_id, store_id)


@router.post("/vector_stores/{store_id}", response_model=schemas.VectorStoreObject)
def modify_store(
    store_id: str, body: schemas.UpdateVectorStoreRequest, core: CoreDep, principal: PrincipalDep
) -> schemas.VectorStoreObject:
    return VectorStoreService(core).modify(principal.project_id, store_id, body)


@router.delete("/vector_stores/{store_id}", response_model=schemas.DeletedObject)
def delete_store(store_id: str, core: CoreDep, principal: PrincipalDep) -> schemas.DeletedObject:
    VectorStoreService(core).delete(principal.project_id, store_id)
    return schemas.DeletedObject(id=store_id, object="vector_store.deleted")


@router.post("/vector_stores/{store_id}/search", response_model=schemas.SearchResultsPage)
def search_store(
    store_id: str, body: schemas.SearchRequest, core: CoreDep, principal: PrincipalDep
) -> schemas.SearchResultsPage:
    return SearchService(core).search(principal.project_id, [store_id], body)


# --- store files ------------------------------------------------------------------------------------


@router.post("/vector_stores/{store_id}/files", response_model=schemas.VectorStoreFileObject)
def create_store_file(
    store_id: str, body: schemas.CreateVectorStoreFileRequest, core: CoreDep, principal: PrincipalDep
) -> schemas.VectorStoreFileObject:
    return VectorStoreService(core).add_file(principal.project_id, store_id, body)


@router.get("/vector_stores/{store_id}/files", response_model=schemas.ListPage[schemas.VectorStoreFileObject])
def list_store_files(
    store_id: str, core: CoreDep, principal: PrincipalDep, params: ListDep, filter: FileStatus | None = None
) -> schemas.ListPage[schemas.VectorStoreFileObject]:
    items, has_more = VectorStoreService(core).list_files(
        principal.project_id,
        store_id,
        status=filter,
        limit=params.limit,
        order=params.order,
        after=params.after,
        before=params.before,
    )
    return schemas.ListPage.of(items, has_more)


@router.get("/vector_stores/{store_id}/files/{file_id}", response_model=schemas.VectorStoreFileObject)
def retrieve_store_file(store_id: str, file_id: str, core: CoreDep, principal: PrincipalDep) -> schemas.VectorStoreFileObject:
    return VectorStoreService(core).get_file(principal.project_id, store_id, file_id)


@router.post("/vector_stores/{store_id}/files/{file_id}", response_model=schemas.VectorStoreFileObject)
def update_store_file(
    store_id: str, file_id: str, body: schemas.UpdateVectorStoreFileRequest, core: CoreDep, principal: PrincipalDep
) -> schemas.VectorStoreFileObject:
    return VectorStoreService(core).update_file_attributes(principal.project_id, store_id, file_id, body.attributes)


@router.delete("/vector_stores/{store_id}/files/{file_id}", response_model=schemas.DeletedObject)
def delete_store_file(store_id: str, file_id: str, core: CoreDep, principal: PrincipalDep) -> schemas.DeletedObject:
    VectorStoreService(core).delete_file(principal.project_id, store_id, file_id)
    return schemas.DeletedObject(id=file_id, object="vector_store.file.deleted")


@router.get("/vector_stores/{store_id}/files/{file_id}/content", response_model=schemas.FileContentPage)
def store_file_content(store_id: str, file_id: str, core: CoreDep, principal: PrincipalDep) -> schemas.FileContentPage:
    return VectorStoreService(core).file_content(principal.project_id, store_id, file_id)


# --- file batches -----------------------------------------------------------------------------------


@router.post("/vector_stores/{store_id}/file_batches", response_model=schemas.FileBatchObject)
def create_batch(
    store_id: str, body: schemas.CreateFileBatchRequest, core: CoreDep, principal: PrincipalDep
) -> schemas.FileBatchObject:
    return VectorStoreService(core).create_batch(principal.project_id, store_id, body)


@router.get("/vector_stores/{store_id}/file_batches/{batch_id}", response_model=schemas.FileBatchObject)
def retrieve_batch(store_id: str, batch_id: str, core: CoreDep, principal: PrincipalDep) -> schemas.FileBatchObject:
    return VectorStoreService(core).get_batch(principal.project_id, store_id, batch_id)


@router.post("/vector_stores/{store_id}/file_batches/{batch_id}/cancel", response_model=schemas.FileBatchObject)
def cancel_batch(store_id: str, batch_id: str, core: CoreDep, principal: PrincipalDep) -> schemas.FileBatchObject:
    return VectorStoreService(core).cancel_batch(principal.project_id, store_id, batch_id)


@router.get(
    "/vector_stores/{store_id}/file_batches/{batch_id}/files",
    response_model=schemas.ListPage[schemas.VectorStoreFileObject],
)
def list_batch_files(
    store_id: str, batch_id: str, core: CoreDep, principal: PrincipalDep, params: ListDep, filter: FileStatus | None = None
) -> schemas.ListPage[schemas.VectorStoreFileObject]:
    service = VectorStoreService(core)
    service.get_batch(principal.project_id, store_id, batch_id)
    items, has_more = service.list_files(
        principal.project_id,
        store_id,
        status=filter,
        limit=params.limit,
        order=params.order,
        after=params.after,
        before=params.before,
        batch_id=batch_id,
    )
    return schemas.ListPage.of(items, has_more)
