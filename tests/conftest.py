"""Shared fixtures: where the real data lives, and skips that say why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """`$AUMDF_SHARED`, else `../shared` beside the project; None when neither exists."""
    env = os.environ.get("AUMDF_SHARED")
    cand = Path(env) if env else ROOT.parent / "shared"
    return cand if cand.is_dir() else None


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if path is None:
        pytest.skip("real data not found: set AUMDF_SHARED or place the shared folder beside the project")
    return path


def pytest_collection_modifyitems(config, items):
    import torch

    if not torch.cuda.is_available():
        skip_gpu = pytest.mark.skip(reason="needs a CUDA device; none is available on this machine")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip_gpu)
    if shared_dir() is None:
        skip_media = pytest.mark.skip(
            reason="needs the real data/media folder (set AUMDF_SHARED or put 'shared' beside the project)"
        )
        for item in items:
            if "media" in item.keywords:
                item.add_marker(skip_media)
