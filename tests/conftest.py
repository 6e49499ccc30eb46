"""Shared fixtures: where the real data lives, skips that say why, a free port, the demo corpus built
once per session from generated data (tests/demo_data.py), and the demo's extractors, predictor and app
server built once per session (tests/demo_support.py)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.media import text_cache  # noqa: F401  (a session fixture: one word-vector cache for every test)

ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """`$AUMDF_SHARED`, else `../shared` beside the project; None when neither exists."""
    env = os.environ.get("AUMDF_SHARED")
    cand = Path(env) if env else ROOT.parent / "shared"
    return cand if cand.is_dir() else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the app under test, a benchmark's server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if path is None:
        pytest.skip("real data not found: set AUMDF_SHARED or place the shared folder beside the project")
    return path


# ------------------------------------------------------------------ generated training data

# train.distill settings for smoke runs: a tiny model, one thread, no progress bars
TINY_TRAIN = dict(d_model=16, n_heads=2, head_dropout=0.0, dropout=0.0, batch_size=16, lr=3e-3, threads=1,
                  progress=False)


@pytest.fixture(scope="session")
def mosi_dir(tmp_path_factory) -> Path:
    """A MOSI-like MulT pickle (96/32/32 samples, every modality predictive) in its own folder."""
    from train.synthetic import make_synthetic, write_mult

    d = tmp_path_factory.mktemp("mosi")
    write_mult(make_synthetic(n=(96, 32, 32), strength=(2.0, 1.5, 1.0), noise=0.4, seed=5), d / "mosi_data.pkl")
    return d


# ------------------------------------------------------------------ the demo corpus from generated data


@pytest.fixture(scope="session")
def fake_data(tmp_path_factory) -> Path:
    """A raw data folder like $AUMDF_SHARED/data: mosi/, mosei/, ravdess/, fer2013.npz (tests/demo_data.py)."""
    from tests.demo_data import write_fake_data

    return write_fake_data(tmp_path_factory.mktemp("shared") / "data")


@pytest.fixture(scope="session")
def face_weights(tmp_path_factory) -> Path:
    """An untrained face-expression network in the checkpoint layout (the builder only needs *a* network)."""
    from tests.demo_data import fake_face_weights

    return fake_face_weights(tmp_path_factory.mktemp("face") / "face_expression")


@pytest.fixture(scope="session")
def extractors(face_weights):
    """The app's extractors (train.demo.extraction.app_extractor) with the untrained face network."""
    from train.demo.extraction import app_extractor

    return app_extractor(face_weights)


@pytest.fixture(scope="session")
def built(fake_data, extractors, tmp_path_factory):
    """(corpus folder, manifest) of a demo corpus built from fake_data."""
    from train.demo import corpus as dc

    out = tmp_path_factory.mktemp("demo")
    manifest = dc.build(dc.BuildConfig(data_dir=fake_data, out=out, seed=3, composites_per_clip=2, quiet=True),
                        extractors)
    return out, manifest


# ------------------------------------------------------------------ the demo on a random checkpoint


@pytest.fixture(scope="session")
def onet_extractor():
    """The real extractors with faces embedded by MTCNN's ONet (no trained weights), built once: word vectors,
    the recogniser and the networks load in seconds, and every demo test uses the same ones."""
    from features.pipeline import ClipExtractor

    return ClipExtractor.build(embedder="onet")


@pytest.fixture(scope="session")
def demo_predictor(tmp_path_factory, onet_extractor):
    """(checkpoint folder, Predictor) on a random checkpoint pair with the ONet extractors' spec and the shipped
    limits (60 s, 200 MB): shared by the bad-input and browser tests (tests/demo_support.py)."""
    from tests.demo_support import make_predictor

    root = tmp_path_factory.mktemp("demo_ck")
    return root, make_predictor(root, extractor=onet_extractor)


@pytest.fixture(scope="session")
def demo_url(demo_predictor):
    """One app server on demo_predictor for the session (shipped limits); its URL."""
    pytest.importorskip("gradio")
    from tests.demo_support import serve

    demo, url = serve(demo_predictor[1])
    yield url
    demo.close()


# ------------------------------------------------------------------ markers


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
