"""The one frozen config of an AUMDF model (teacher and student share it).

Every size is a field here; nothing in the model is a constant. `AUMDFConfig.paper_table2` gives
the paper's Table 2 values (hidden 300, dropout 0.8), `AUMDFConfig.demo` the small width the demo ships.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, Mapping

Task = Literal["regression", "classification"]

# fields added after checkpoints were shipped: the value that reproduces a config saved without them
LEGACY_DEFAULTS: dict[str, Any] = {"dwam_framewise": False, "class_heads": "softmax"}


@dataclass(frozen=True)
class AUMDFConfig:
    input_dims: tuple[int, int, int]  # d_l, d_a, d_v: feature width per modality (text, audio, vision)
    task: Task = "regression"
    n_classes: int = 1  # regression: 1 output; classification: number of classes
    d_model: int = 300  # shared width d after RPM (paper: hidden 300)
    n_heads: int = 4
    n_layers: int = 1  # MMT layers (eq. 31-32 describe one)
    conv_kernels: tuple[int, int, int] = (3, 3, 3)  # RPM Conv1D kernel k_m per modality
    time_window: int = 3  # K of eq. 21, in steps of the coarser of the two sequences
    ffn_mult: int = 4
    dropout: float = 0.1  # inside REM/MMT blocks
    head_dropout: float = 0.0  # on the fused representation before the head
    gate_sharpness: float = 10.0  # slope of the straight-through sigmoid of the REM noise gate
    norm_eps: float = 1e-5  # initial phi of eq. 3 (learnable, kept positive)
    use_rem: bool = True  # ablation switches (Tables 6-7); the paper's model has all on
    use_dwam: bool = True
    # DWAM gates frame by frame where two modalities share a time axis (aligned input), else pools the
    # partner (aumdf/dwam.py). Configs saved before this field existed load with False: they pooled always.
    dwam_framewise: bool = True
    # classification: "binary" = one sigmoid head per class trained with BCE, MulT's IEMOCAP protocol (its
    # two-logit heads are the same model: softmax over [l0, l1] is sigmoid(l1 - l0)); "softmax" = one C-way
    # softmax with cross-entropy. Configs saved before the field existed load with "softmax".
    class_heads: str = "binary"

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_dims", tuple(int(x) for x in self.input_dims))
        object.__setattr__(self, "conv_kernels", tuple(int(x) for x in self.conv_kernels))
        if len(self.input_dims) != 3 or min(self.input_dims) <= 0:
            raise ValueError(f"input_dims must be three positive ints (text, audio, vision), got {self.input_dims}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.d_model % 2:
            raise ValueError(f"d_model must be even (BiLSTM halves and sinusoidal pairs), got {self.d_model}")
        if self.task == "regression" and self.n_classes != 1:
            raise ValueError("regression uses n_classes=1")
        if self.task == "classification" and self.n_classes < 2:
            raise ValueError("classification needs n_classes >= 2")
        if self.class_heads not in ("binary", "softmax"):
            raise ValueError(f"class_heads must be 'binary' or 'softmax', got {self.class_heads!r}")
        if any(k < 1 or k % 2 == 0 for k in self.conv_kernels):
            raise ValueError(f"conv_kernels must be odd and positive, got {self.conv_kernels}")

    @classmethod
    def paper_table2(cls, input_dims: tuple[int, int, int], **overrides: Any) -> "AUMDFConfig":
        """Table 2: hidden 300, dropout 0.8 (applied on the fused representation; see docs/model.md)."""
        base = dict(d_model=300, n_heads=4, n_layers=1, head_dropout=0.8, dropout=0.1)
        return cls(input_dims=input_dims, **{**base, **overrides})

    @classmethod
    def demo(cls, input_dims: tuple[int, int, int], **overrides: Any) -> "AUMDFConfig":
        """The width the shipped demo checkpoint uses: fast on a 2-core CPU."""
        base = dict(d_model=64, n_heads=4, n_layers=1, head_dropout=0.2, dropout=0.1)
        return cls(input_dims=input_dims, **{**base, **overrides})

    def replace(self, **changes: Any) -> "AUMDFConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AUMDFConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; this version knows {sorted(known)}")
        d = dict(d)
        for name, legacy in LEGACY_DEFAULTS.items():
            d.setdefault(name, legacy)
        return cls(**d)
