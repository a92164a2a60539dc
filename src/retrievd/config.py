"""Settings, read once from `RETRIEVD_*` environment variables (or a `.env` file)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_models_dir() -> Path:
    # Shared by every data dir on the machine, like fastembed's or Hugging Face's caches:
    # the pinned assets are the same whatever the deployment.
    return Path.home() / ".cache" / "retrievd" / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETRIEVD_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./.retrievd")
    api_key: str | None = None
    database_url: str | None = None
    qdrant_url: str | None = Field(default=None, description="Unset: embedded Qdrant Edge. ':memory:' or a URL: qdrant-client.")
    qdrant_api_key: str | None = None
    # A new collection's layout on a Qdrant server or cluster (see docs/scale-out.md).
    qdrant_shard_number: int = 1
    qdrant_replication_factor: int = 1
    # Scale-out with the embedded index: processes other than the one that opened the shard reach
    # it here (e.g. http://owner:8000); see retrievd.index.owner.
    index_owner_url: str | None = None
    # The embedded index moves a store of this many chunks or more to a shard of its own (see
    # retrievd.index.edge): its searches then cost what a store of that size costs alone.
    store_shard_points: int = Field(default=100_000, ge=1)
    # File blobs; a directory every replica and worker mounts. Default: <data_dir>/files.
    blobs_dir: Path = Field(default=None, validate_default=False)  # type: ignore[assignment]
    models_dir: Path = Field(default_factory=_default_models_dir)
    embedding_model: str = "retrievd/all-MiniLM-L6-v2-int8"
    embedding_threads: int | None = None
    embed_batch_size: int = 32

    max_upload_bytes: int = 512 * 1024 * 1024
    # Request limits (see retrievd.api.limits); 0 turns one off.
    rate_limit_per_minute: int = 6000  # per API key, bursts up to a minute's worth
    max_request_body_bytes: int = 32 * 1024 * 1024  # JSON bodies; uploads have max_upload_bytes
    max_query_bytes: int = 8192
    max_files_per_store: int = 100_000_000  # OpenAI's, for stores created from November 2025
    ingest_workers: int = 1
    parse_timeout_s: float = 600.0
    parse_memory_mb: int = 4096

    # Storage billing (see retrievd.usage.pricing): a preset, each of its values overridable.
    pricing: Literal["standard", "flat"] = "standard"  # $0.10/GB-day, 1 GB free per project | $0.20, none free
    price_per_gb_day: Decimal | None = None
    free_gb_per_project: Decimal | None = None
    # Container files' GB-days: $0 as OpenAI (its $0.03 a session covered them), counted all the same.
    price_per_container_gb_day: Decimal = Decimal(0)
    expiration_interval_s: float = 60.0  # how often expired stores and files are swept

    # The assistant runtime (see retrievd.runtime.providers): no upstream = the built-in extractive model.
    upstream_base_url: str | None = Field(default=None, description="A Chat Completions server, e.g. http://localhost:11434/v1")
    upstream_api_key: str | None = None
    model_map: dict[str, str] = Field(default_factory=dict, description='Client model -> upstream model or "extractive"; "*" = any other')
    model_context_tokens: int = 128000
    upstream_timeout_s: float = 120.0
    upstream_retries: int = 3
    upstream_backoff_s: float = 0.5
    runtime_workers: int = 4
    run_expires_after_s: int = 600  # how long a run waits for tool outputs (requires_action)
    run_max_model_calls: int = 10  # the last one must answer in text
    run_store_wait_s: float = 600.0  # how long a run waits for its stores' files to finish indexing
    code_interpreter_timeout_s: float = 60.0  # wall time of one code_interpreter call, then a kill
    # The most memory a container's sandbox gets; a container asking for more (memory_limit) gets this.
    code_interpreter_max_memory: Literal["1g", "4g", "16g", "64g"] = "4g"
    container_idle_s: float = 1200.0  # a container idle this long is closed, its files removed (OpenAI's 20 min)

    # Past `retrievd eval run` results the console shows (read-only). Default: <data_dir>/eval.
    eval_dir: Path = Field(default=None, validate_default=False)  # type: ignore[assignment]

    host: str = "127.0.0.1"
    port: int = 8000

    @model_validator(mode="after")
    def _defaults_under_data_dir(self) -> Settings:
        if self.blobs_dir is None:
            self.blobs_dir = self.data_dir / "files"
        if self.eval_dir is None:
            self.eval_dir = self.data_dir / "eval"
        return self

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'retrievd.db').resolve()}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"


@lru_cache
def get_settings() -> Settings:
    return Settings()
