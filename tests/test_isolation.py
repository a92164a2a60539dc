"""Tenants stay apart: another project's key sees none of a project's objects, non-admin keys no admin route."""

from __future__ import annotations

import httpx

from tests.conftest import Server


def new_project_key(server: Server, name: str) -> str:
    """A fresh project and a service-account key for it, made through the admin API."""
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    project = httpx.post(f"{server.base_url}/organization/projects", json={"name": name}, headers=admin).json()
    account = httpx.post(
        f"{server.base_url}/organization/projects/{project['id']}/service_accounts", json={"name": name}, headers=admin
    ).json()
    return account["api_key"]["value"]
