"""The one cache-folder rule of the demo and test models (``ssr.demo.models``, ``ssr.demo.tiny``)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "SSR_CACHE_DIR"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$SSR_CACHE_DIR``, else ``~/.cache/ssr``."""
    if cache_dir is None:
        cache_dir = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "ssr"
    return Path(cache_dir).expanduser()


def models_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``<cache>/models``: every model folder the project builds or converts, one folder per model."""
    return cache_root(cache_dir) / "models"
