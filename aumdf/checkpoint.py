"""Self-describing checkpoints: `model.safetensors` + `config.json` in one folder.

config.json holds the model config, the feature specification the model was trained on (per
modality: name, dimension, layout, max length, extractor and its settings) and free metadata
(data sources, metrics). Loading is strict, and a checkpoint is refused when the features offered
differ from the ones it expects, with a message that lists every difference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from aumdf.config import AUMDFConfig
from aumdf.model import AUMDF
from features.spec import FeatureSpec

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


class CheckpointError(Exception):
    """A checkpoint folder is missing, incomplete, corrupt, or does not fit this code."""


class FeatureMismatchError(CheckpointError):
    """The offered features are not the ones the checkpoint was trained on."""

    def __init__(self, differences: list[str], where: str = ""):
        self.differences = differences
        lines = "\n  ".join(differences)
        super().__init__(
            f"the checkpoint{where} was trained on other features than the extractors offer:\n  {lines}\n"
            "Use extractors with the checkpoint's settings (see its config.json 'feature_spec'), or retrain."
        )


@dataclass
class LoadedCheckpoint:
    model: AUMDF
    config: AUMDFConfig
    feature_spec: FeatureSpec
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def trained_subsets(self) -> tuple[str, ...] | None:
        """The modality subsets ("{l,a,v}", "{l}", ...) its training samples had as recorded, when the run
        wrote them (train.distill does for teachers); None for checkpoints that do not say."""
        subsets = self.metadata.get("trained_subsets")
        return None if subsets is None else tuple(subsets)


def save_checkpoint(path: str | Path, model: AUMDF, feature_spec: FeatureSpec, metadata: dict[str, Any] | None = None) -> Path:
    """Write `path/model.safetensors` and `path/config.json`; returns the folder."""
    if model.config is None:
        raise CheckpointError("the model has no config; build it with AUMDF.from_config")
    if tuple(feature_spec.dims) != tuple(model.config.input_dims):
        raise CheckpointError(
            f"feature spec dimensions {feature_spec.dims} do not match the model's input_dims {model.config.input_dims}"
        )
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    # clone: safetensors refuses tensors that share storage, and weights may be views
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(path / WEIGHTS), metadata={"format_version": str(FORMAT_VERSION)})
    doc = {
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "feature_spec": feature_spec.to_dict(),
        "metadata": metadata or {},
    }
    (path / CONFIG).write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    return path


def read_checkpoint_config(path: str | Path) -> tuple[AUMDFConfig, FeatureSpec, dict[str, Any]]:
    path = Path(path)
    cfg_file = path / CONFIG
    if not cfg_file.is_file():
        raise CheckpointError(f"no checkpoint at {path}: {CONFIG} is missing (expected {CONFIG} and {WEIGHTS} in that folder)")
    try:
        doc = json.loads(cfg_file.read_text())
        if int(doc.get("format_version", 0)) > FORMAT_VERSION:
            raise CheckpointError(f"{cfg_file} is format {doc['format_version']}; this code reads up to {FORMAT_VERSION}")
        return AUMDFConfig.from_dict(doc["model_config"]), FeatureSpec.from_dict(doc["feature_spec"]), doc.get("metadata", {})
    except CheckpointError:
        raise
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{cfg_file} is not a valid AUMDF checkpoint config: {e}") from e


def load_checkpoint(
    path: str | Path, expected_spec: FeatureSpec | None = None, map_location: str | torch.device = "cpu"
) -> LoadedCheckpoint:
    """Load strictly. With `expected_spec`, refuse (FeatureMismatchError) unless it equals the checkpoint's."""
    path = Path(path)
    config, spec, metadata = read_checkpoint_config(path)
    if expected_spec is not None:
        diff = spec.diff(expected_spec)
        if diff:
            raise FeatureMismatchError(diff, where=f" at {path}")
    weights = path / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"no weights at {weights}: the checkpoint folder has {CONFIG} but not {WEIGHTS}")
    try:
        state = load_file(str(weights), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights} is unreadable or corrupt ({e}); re-download or retrain it") from e
    model = AUMDF.from_config(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{weights} does not fit the model described by {path / CONFIG}: {e}") from e
    model.to(map_location).eval()
    return LoadedCheckpoint(model=model, config=config, feature_spec=spec, metadata=metadata, path=path)
