"""Facial-expression network whose penultimate layer embeds face crops for the vision modality.

The paper (§4.2.1) embeds each detected face with a pretrained facial-expression network. No such
weights can be downloaded here, so this project trains its own compact CNN on FER2013
(`python -m train.face_expression`) and ships the weights under `checkpoints/face_expression/`.

Dimension legend:
    n - number of face crops (batch)
    c - channels
    h, w - height, width (48 x 48 grey at the input)
    e - embedding size (EMBED_DIM = 128)
    k - expression classes (7, FER2013 order)

Input convention (training and inference alike): grey faces in [0, 1], [n, 1, 48, 48]. The network
standardises them itself (fixed mean/std buffers stored with the weights), so callers never have to
know the training statistics.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from features.types import FeatureError

EMBED_DIM = 128
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT_SIZE = 48
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "checkpoints" / "face_expression"
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
TRAIN_COMMAND = "python -m train.face_expression"


@dataclass(frozen=True)
class FaceExpressionConfig:
    """Architecture arguments; stored in config.json so a checkpoint rebuilds its own network."""

    widths: tuple[int, ...] = (16, 32, 64, 128)  # channels of each stage; every stage but the last halves h, w
    convs_per_stage: int = 2
    embed_dim: int = EMBED_DIM
    n_classes: int = len(CLASSES)
    dropout: float = 0.3
    mean: float = 0.5  # grey-level statistics of the training images, applied inside forward
    std: float = 0.25


class ConvBNAct(nn.Sequential):
    """3x3 conv -> BatchNorm -> ReLU; x: [n, c_in, h, w] -> [n, c_out, h, w]."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class ResidualStage(nn.Module):
    """`convs` ConvBNAct layers with a 1x1-projected shortcut (ResNet-style, so depth trains quickly)."""

    def __init__(self, c_in: int, c_out: int, convs: int):
        super().__init__()
        if convs < 1:
            raise ValueError(f"a stage needs at least one conv, got convs={convs}")
        chans = [c_in] + [c_out] * convs
        layers: list[nn.Module] = [ConvBNAct(chans[i], chans[i + 1]) for i in range(convs - 1)]
        # the last conv has no ReLU: it is applied after the shortcut is added, as in ResNet
        layers += [nn.Conv2d(chans[convs - 1], c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out)]
        self.body = nn.Sequential(*layers)
        self.shortcut = (
            nn.Identity() if c_in == c_out else nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [n, c_in, h, w] -> [n, c_out, h, w]"""
        return F.relu(self.body(x) + self.shortcut(x))


class FaceExpressionNet(nn.Module):
    """Compact residual CNN: grey face [n, 1, 48, 48] in [0, 1] -> embedding [n, e] -> logits [n, k]."""

    def __init__(
        self,
        widths: Sequence[int] = (16, 32, 64, 128),
        convs_per_stage: int = 2,
        embed_dim: int = EMBED_DIM,
        n_classes: int = len(CLASSES),
        dropout: float = 0.3,
        mean: float = 0.5,
        std: float = 0.25,
    ):
        super().__init__()
        self.config = FaceExpressionConfig(
            widths=tuple(int(w) for w in widths),
            convs_per_stage=int(convs_per_stage),
            embed_dim=int(embed_dim),
            n_classes=int(n_classes),
            dropout=float(dropout),
            mean=float(mean),
            std=float(std),
        )
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))
        stages: list[nn.Module] = []
        c_in = 1
        for i, c_out in enumerate(widths):
            stages.append(ResidualStage(c_in, c_out, convs_per_stage))
            if i < len(widths) - 1:
                stages.append(nn.MaxPool2d(2))  # 48 -> 24 -> 12 -> 6 with four stages
            c_in = c_out
        self.features = nn.Sequential(*stages)
        self.embed_head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(c_in, embed_dim, bias=False),
            nn.BatchNorm1d(embed_dim),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(embed_dim, n_classes))

    @classmethod
    def from_config(cls, cfg: FaceExpressionConfig) -> "FaceExpressionNet":
        return cls(**asdict(cfg))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """x: [n, 1, h, w] in [0, 1] -> pooled features [n, c_last]"""
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"expected grey faces shaped [n, 1, h, w], got {tuple(x.shape)}")
        x = (x - self.mean) / self.std
        x = self.features(x)  # [n, c, 6, 6] for 48x48 input
        return x.mean(dim=(2, 3))  # global average pool: any input size works

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """x: [n, 1, 48, 48] in [0, 1] -> [n, e] (non-negative, the input of the classifier)"""
        return self.embed_head(self.forward_features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [n, 1, 48, 48] in [0, 1] -> logits [n, k]"""
        return self.classifier(self.embed(x))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor, flip: bool = True) -> torch.Tensor:
        """x: [n, 1, 48, 48] -> class probabilities [n, k]; averages over a horizontal flip when `flip`."""
        p = self.forward(x).softmax(-1)
        if flip:
            p = 0.5 * (p + self.forward(x.flip(-1)).softmax(-1))
        return p


def _to_grey(crop: np.ndarray, index: int) -> np.ndarray:
    """One crop [h, w, 3] RGB or [h, w] / [h, w, 1] grey, uint8 (or float in [0, 1]) -> uint8 [h, w]."""
    a = np.asarray(crop)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) or a.shape[0] == 0 or a.shape[1] == 0:
        raise FeatureError(
            f"face crop {index} has shape {a.shape}; expected a non-empty RGB image [h, w, 3] (or grey [h, w])"
        )
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating) and a.size and float(np.nanmax(a)) <= 1.0:
            a = a * 255.0
        a = np.clip(np.nan_to_num(a), 0, 255).astype(np.uint8)
    if a.ndim == 3:
        # ITU-R 601 luma, the same conversion as FER2013's grey images and PIL's "L" mode
        a = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2GRAY)
    return a


def preprocess_faces(crops: Sequence[np.ndarray], size: int = INPUT_SIZE) -> torch.Tensor:
    """Face crops of any size -> float tensor [n, 1, size, size] in [0, 1] (the training input convention).

    crops: sequence of n RGB uint8 arrays [h_i, w_i, 3] (grey [h_i, w_i] is accepted too).
    Each crop is converted to grey and resized to size x size without keeping the aspect ratio,
    exactly as FER2013's 48x48 faces were made from detector boxes.
    """
    out = np.zeros((len(crops), 1, size, size), np.float32)
    for i, crop in enumerate(crops):
        g = _to_grey(crop, i)
        shrinking = g.shape[0] > size or g.shape[1] > size
        interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR  # AREA avoids aliasing when shrinking
        g = cv2.resize(g, (size, size), interpolation=interp)
        out[i, 0] = g.astype(np.float32) / 255.0
    return torch.from_numpy(out)


def _resolve(path: str | Path | None) -> tuple[Path, Path]:
    """A checkpoint directory or its model.safetensors -> (weights file, config file)."""
    p = DEFAULT_DIR if path is None else Path(path)
    if p.suffix == ".safetensors":
        return p, p.with_name(CONFIG_NAME)
    return p / WEIGHTS_NAME, p / CONFIG_NAME


def load_face_expression(path: str | Path | None = None, device: str | torch.device = "cpu") -> FaceExpressionNet:
    """Load the trained network in eval mode.

    path: a directory holding model.safetensors + config.json, or the .safetensors file itself;
          default `checkpoints/face_expression/` in the project.
    Raises FeatureError naming the missing or unreadable file and the command that trains it.
    """
    from safetensors.torch import load_file

    weights, config_file = _resolve(path)
    for f in (weights, config_file):
        if not f.is_file():
            raise FeatureError(
                f"face-expression weights are missing: {f} does not exist. "
                f"Train them with `{TRAIN_COMMAND}` (needs FER2013 at $AUMDF_SHARED/data/fer2013.npz, "
                f"or pass --data), or pass the directory that holds {WEIGHTS_NAME} and {CONFIG_NAME}."
            )
    try:
        meta = json.loads(config_file.read_text())
        arch = dict(meta["arch"])
        arch["widths"] = tuple(arch["widths"])
        model = FaceExpressionNet.from_config(FaceExpressionConfig(**arch))
        state = load_file(str(weights))
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        raise FeatureError(
            f"could not load the face-expression checkpoint {weights} / {config_file}: {e}. "
            f"Re-create it with `{TRAIN_COMMAND}`."
        ) from e
    if tuple(meta.get("classes", CLASSES)) != CLASSES:
        raise FeatureError(f"{config_file} lists classes {meta.get('classes')}, expected {CLASSES}")
    return model.to(device).eval()
