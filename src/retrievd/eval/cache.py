"""An on-disk memory of embeddings, so rerunning an eval on an unchanged corpus embeds nothing.

Vectors are keyed by (model, query-or-document, sha256 of the text): a changed chunking only
embeds the chunks whose text changed. One SQLite file per model under `models_dir`.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from retrievd.embedding import Embedder


def cache_path(models_dir: Path, model_name: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name)
    return models_dir / "embedding-cache" / f"{safe}.sqlite"


class CachedEmbedder:
    """The real embedder, behind a cache; every other attribute is the embedder's own."""

    def __init__(self, embedder: Embedder, path: Path) -> None:
        self._embedder = embedder
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._embedder, name)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, "d", self._embedder.embed_documents)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([text], "q", lambda texts: self._embedder.embed_query(texts[0])[None, :])[0]

    def _embed(self, texts: Sequence[str], kind: str, compute: Any) -> np.ndarray:
        keys = [hashlib.sha256(f"{kind}\0{text}".encode()).hexdigest() for text in texts]
        with self._lock:
            found = dict(self._db.execute(
                f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(keys))})", keys
            ).fetchall()) if keys else {}
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            first = dict(zip(keys, texts))
            vectors = np.asarray(compute([first[k] for k in missing]), dtype=np.float32)
            rows = [(k, v.tobytes()) for k, v in zip(missing, vectors)]
            with self._lock:
                self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
            found.update(rows)
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        return np.stack([np.frombuffer(found[k], dtype=np.float32) for k in keys]) if keys else np.empty((0, self.dim), np.float32)

    def close(self) -> None:
        self._db.close()
