"""Vector index backends: Qdrant Edge in-process (the default) or a Qdrant server."""

from __future__ import annotations

from retrievd.config import Settings
from retrievd.index.base import VectorIndex


def open_index(settings: Settings, dim: int) -> VectorIndex:
    """`qdrant_url` unset: Qdrant Edge shards under `index_dir`; ':memory:' or a URL: qdrant-client."""
    if settings.qdrant_url is None:
        from retrievd.index.edge import EdgeIndex

        return EdgeIndex(settings.index_dir, dim, store_shard_points=settings.store_shard_points)
    from retrievd.index.client import ClientIndex

    return ClientIndex(
        settings.qdrant_url,
        dim,
        api_key=settings.qdrant_api_key,
        shard_number=settings.qdrant_shard_number,
        replication_factor=settings.qdrant_replication_factor,
    )
