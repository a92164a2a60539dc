"""Projects, service accounts and API keys: the tenants and how they authenticate.

Keys are stored as sha256 digests. A request's key is hashed and looked up by digest, so no stored
secret is ever compared byte by byte; the admin key from the environment is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from retrievd.errors import APIError, not_found
from retrievd.ids import new_id
from retrievd.store.db import Database, now
from retrievd.store.models import ApiKey, Project, ServiceAccount


@dataclass(frozen=True)
class Principal:
    """Who is calling: the project whose objects they see, and whether they may administer tenants."""

    project_id: str
    key_id: str
    is_admin: bool


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _redact(key: str) -> str:
    return f"{key[:10]}...{key[-4:]}"


class ProjectService:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- authentication -------------------------------------------------------------------------

    def authenticate(self, key: str) -> Principal:
        digest = hash_key(key)
        with self.db.session() as s:
            row = s.execute(select(ApiKey).where(ApiKey.key_hash == digest)).scalar_one_or_none()
            if row is None or not hmac.compare_digest(row.key_hash, digest):
                raise APIError(401, "Incorrect API key provided.", code="invalid_api_key")
            project = s.get(Project, row.project_id)
            if project is None or project.status != "active":
                raise APIError(401, "The project of this API key is archived.", code="invalid_api_key")
            return Principal(project_id=row.project_id, key_id=row.id, is_admin=row.is_admin)

    def bootstrap(self, admin_key: str | None) -> str | None:
        """Make sure an admin project and key exist. Returns a newly generated key (to print once)."""
        with self.db.session() as s:
            admin = s.execute(select(Project).where(Project.is_admin)).scalars().first()
            if admin is None:
                admin = Project(id=new_id("proj_"), name="Default project", is_admin=True)
                s.add(admin)
                s.flush()
            if admin_key:
                if s.execute(select(ApiKey).where(ApiKey.key_hash == hash_key(admin_key))).first() is None:
                    s.add(self._key_row(admin.id, admin_key, "admin (RETRIEVD_API_KEY)", is_admin=True))
                return None
            if s.execute(select(ApiKey).where(ApiKey.is_admin)).first() is not None:
                return None
            key = "sk-admin-" + secrets.token_urlsafe(32)
            s.add(self._key_row(admin.id, key, "admin", is_admin=True))
            return key

    @staticmethod
    def _key_row(project_id: str, key: str, name: str, *, is_admin: bool = False, sa: str | None = None) -> ApiKey:
        return ApiKey(
            id=new_id("key_"),
            project_id=project_id,
            service_account_id=sa,
            name=name,
            key_hash=hash_key(key),
            redacted_value=_redact(key),
            is_admin=is_admin,
        )

    # --- projects ---------------------------------------------------------------------------------

    def create_project(self, name: str) -> Project:
        with self.db.session() as s:
            project = Project(id=new_id("proj_"), name=name)
            s.add(project)
            return project

    def list_projects(self, include_archived: bool = False) -> list[Project]:
        with self.db.session() as s:
            query = select(Project).order_by(Project.created_at, Project.id)
            if not include_archived:
                query = query.where(Project.status == "active")
            return list(s.execute(query).scalars())

    def get_project(self, project_id: str) -> Project:
        with self.db.session() as s:
            project = s.get(Project, project_id)
            if project is None:
                raise not_found("project", project_id)
            return project

    def modify_project(self, project_id: str, name: str) -> Project:
        with self.db.session() as s:
            project = s.get(Project, project_id)
            if project is None:
                raise not_found("project", project_id)
            project.name = name
            return project

    def archive_project(self, project_id: str) -> Project:
        with self.db.session() as s:
            project = s.get(Project, project_id)
            if project is None:
                raise not_found("project", project_id)
            if project.is_admin:
                raise APIError(400, "The admin project cannot be archived.", param="project_id")
            project.status = "archived"
            project.archived_at = now()
            return project

    # --- service accounts and keys ------------------------------------------------------------------

    def create_service_account(self, project_id: str, name: str) -> tuple[ServiceAccount, ApiKey, str]:
        """A service account with a fresh project key; the key is returned once and never again."""
        with self.db.session() as s:
            project = s.get(Project, project_id)
            if project is None or project.status != "active":
                raise not_found("project", project_id)
            account = ServiceAccount(id=new_id("svc_acct_"), project_id=project_id, name=name)
            s.add(account)
            s.flush()
            key = "sk-proj-" + secrets.token_urlsafe(32)
            row = self._key_row(project_id, key, name, sa=account.id)
            s.add(row)
            return account, row, key

    def list_service_accounts(self, project_id: str) -> list[ServiceAccount]:
        self.get_project(project_id)
        with self.db.session() as s:
            query = select(ServiceAccount).where(ServiceAccount.project_id == project_id)
            return list(s.execute(query.order_by(ServiceAccount.created_at, ServiceAccount.id)).scalars())

    def get_service_account(self, project_id: str, account_id: str) -> ServiceAccount:
        with self.db.session() as s:
            account = s.get(ServiceAccount, account_id)
            if account is None or account.project_id != project_id:
                raise not_found("service account", account_id)
            return account

    def delete_service_account(self, project_id: str, account_id: str) -> None:
        with self.db.session() as s:
            account = s.get(ServiceAccount, account_id)
            if account is None or account.project_id != project_id:
                raise not_found("service account", account_id)
            for key in s.execute(select(ApiKey).where(ApiKey.service_account_id == account_id)).scalars():
                s.delete(key)
            s.delete(account)

    def list_keys(self) -> list[ApiKey]:
        with self.db.session() as s:
            return list(s.execute(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)).scalars())

    def revoke_key(self, key_id: str) -> None:
        with self.db.session() as s:
            key = s.get(ApiKey, key_id)
            if key is None:
                raise not_found("API key", key_id)
            s.delete(key)
