"""What both entry points (train.distill, train.evaluate) need: device/AMP choice, batched
prediction under a batch transform (frame drop, modality subset), and scoring with the primary
model-selection metric.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from aumdf import metrics as M
from aumdf.losses import task_loss
from aumdf.types import Batch

BatchTransform = Callable[[Batch, int], Batch]  # (batch, batch index) -> batch


def resolve_device(name: str) -> torch.device:
    """"auto" -> cuda if available, else cpu; otherwise as given (with a clear error if unavailable)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"--device {name} was asked for but CUDA is not available here; use --device cpu or auto")
    return dev


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """Mixed precision on CUDA only (bf16 where supported, else fp16 with a GradScaler); a no-op on CPU."""
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=amp_dtype(device))


def amp_dtype(device: torch.device) -> torch.dtype:
    return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16


@torch.inference_mode()
def predict(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    transform: BatchTransform | None = None,
    amp: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Run `model` (eval mode) over `loader` -> (predictions, labels) as numpy.

    predictions: [n] score (regression) or [n, c] logits (classification).
    """
    was_training = model.training
    model.eval()
    preds, labels = [], []
    for i, batch in enumerate(loader):
        batch = batch.to(device)
        if transform is not None:
            batch = transform(batch, i)
        with autocast(device, amp):
            out = model(batch)
        preds.append(out.prediction.float().cpu())
        labels.append(batch.labels.cpu())
    model.train(was_training)
    return torch.cat(preds).numpy(), torch.cat(labels).numpy()


def score(task: str, preds: np.ndarray, labels: np.ndarray, class_names: Sequence[str] = (),
          class_heads: str = "softmax") -> dict[str, float]:
    """All metrics of the task: aumdf.metrics.regression_metrics or classification_metrics (+ loss). With
    binary class heads (MulT's IEMOCAP protocol) the per-emotion acc_/wf1_ come from each head's own decision,
    logit > 0; accuracy and the F1s over classes from the argmax."""
    if task == "regression":
        return M.regression_metrics(preds, labels)
    logits = torch.from_numpy(preds)
    out = M.classification_metrics(preds.argmax(axis=1), labels, class_names)
    if class_heads == "binary":
        out.update(M.binary_head_metrics(preds, labels, class_names))
    out["loss"] = float(task_loss(logits, torch.from_numpy(labels), "classification", class_heads))
    return out


def selection_value(task: str, metrics: dict[str, float]) -> float:
    """The model-selection quantity, lower is better: MAE (regression), -weighted F1 (classification)."""
    return metrics["mae"] if task == "regression" else -metrics["weighted_f1"]


def selection_name(task: str) -> str:
    return "mae" if task == "regression" else "weighted_f1"


def baseline_metrics(task: str, train_labels: np.ndarray, labels: np.ndarray, class_names: Sequence[str] = ()) -> dict:
    """A data-only reference: the train-mean predictor (regression) or the train-majority class."""
    if task == "regression":
        return {"predictor": "train mean", **M.regression_metrics(np.full(len(labels), train_labels.mean()), labels)}
    majority = int(np.bincount(train_labels.astype(np.int64), minlength=len(class_names)).argmax())
    return {"predictor": f"train majority ({class_names[majority]})",
            **M.classification_metrics(np.full(len(labels), majority), labels, class_names)}
