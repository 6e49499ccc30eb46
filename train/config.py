"""TrainConfig: every hyper-parameter of a `python -m train.distill` run, each field a command-line flag
(aumdf.cli: underscores become dashes, booleans get a --no- form, the help is in the field)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aumdf.rprm import TRAIN_DROP_RATES
from aumdf.cli import arg, from_dict, to_dict
from train.data import DATASETS, LAYOUTS


@dataclass
class TrainConfig:
    # data
    dataset: str = arg("mosi", f"one of {', '.join(DATASETS)} (demo: the app's demo corpus, docs/demo_corpus.md)",
                       choices=tuple(DATASETS))
    data_dir: str = arg("", "folder with the dataset files (default data/<dataset>/), or one pickle file")
    layout: str = arg("auto", "auto takes the first present (docs/training.md)", choices=LAYOUTS)
    max_lens: tuple[int, int, int] = arg((25, 150, 100), "max frames text audio vision (Table 2), applied to "
                                                         "unaligned layouts; 0 keeps all")
    allow_empty_modality: bool = arg(False, "train even when a modality is empty for every sample of a split "
                                            "(by default that stops the run with a message)")
    # model (Table 2: hidden 300, dropout 0.8 on the fused representation)
    d_model: int = arg(300, "shared width d (Table 2: hidden 300)")
    n_heads: int = arg(4, "attention heads (d_model must be divisible by it)")
    n_layers: int = arg(1, "MMT layers")
    dropout: float = arg(0.1, "dropout inside the REM/MMT blocks")
    head_dropout: float = arg(0.8, "dropout on the fused representation (Table 2: 0.8)")
    use_dwam: bool = arg(True, "DWAM on (ablation, Table 6: --no-use-dwam)")
    use_rem: bool = arg(True, "REM on (ablation: --no-use-rem)")
    # objective (eq. 42, Table 2: λ1 = λ2 = λ3 = 0.1); --no-use-* switch a term off (Tables 6-7)
    lambda_reg: float = arg(0.1, "λ1 of eq. 42")
    lambda_csd: float = arg(0.1, "λ2 of eq. 42")
    lambda_srd: float = arg(0.1, "λ3 of eq. 42")
    use_reg: bool = arg(True, "L_reg term on (ablation)")
    use_csd: bool = arg(True, "L_CSD term on (ablation)")
    use_srd: bool = arg(True, "L_SRD term on (ablation)")
    drop_rates: tuple[float, ...] = arg(TRAIN_DROP_RATES, "RPRM frame drop rates p, one drawn per student batch")
    absent_rate: float = arg(0.6, "share of student samples that keep only one of the 7 modality subsets "
                                  "(whole-modality absence, docs/training.md); 0 = frame drop only")
    # optimisation (Table 2: Adam, lr 1e-3, 20 epochs, early stopping patience 20)
    epochs: int = arg(20, "epochs per phase (Table 2: 20)")
    teacher_epochs: int = arg(0, "teacher epochs; 0 = --epochs")
    batch_size: int = arg(32, "samples per batch (per process under torchrun; not given in the paper)")
    samples_per_epoch: int = arg(0, "draw this many training samples per epoch, with replacement (0: one pass over "
                                    "the data), sources balanced by --source-balance; ignored under torchrun")
    source_balance: float = arg(0.0, "with --samples-per-epoch: source s is drawn with a share proportional to "
                                     "n_s ** this (0: every source equally often, 1: in proportion to its size)")
    lr: float = arg(1e-3, "Adam learning rate (Table 2: 0.001)")
    weight_decay: float = arg(0.0, "Adam weight decay")
    grad_clip: float = arg(0.0, "max gradient norm; 0 = off")
    patience: int = arg(20, "early stopping: epochs without validation improvement (Table 2: 20)")
    # run
    seed: int = arg(1111, "seed of initialisation, shuffles and frame drops")
    seeds: tuple[int, ...] = arg((), "several seeds: one run each under OUT/seed_<s>/")
    out: str = arg("", "output folder (default runs/<dataset>/<name>)")
    name: str = arg("", "run name (default a timestamp)")
    teacher: str = arg("", "an existing teacher checkpoint folder: skip the teacher phase")
    teacher_samples: str = arg("complete", "complete: the teacher learns from and distils on the samples whose "
                                           "teacher_view column is set (the demo corpus's composites); recorded: "
                                           "every sample as recorded, whatever modalities its source has",
                               choices=("complete", "recorded"))
    teacher_only: bool = arg(False, "train the teacher and stop (its students can then be distilled by later runs "
                                    "with --teacher OUT/teacher)")
    device: str = arg("auto", "auto | cpu | cuda | cuda:N")
    amp: bool = arg(True, "mixed precision (CUDA only)")
    deterministic: bool = arg(True, "deterministic algorithms (torch.use_deterministic_algorithms, warn only)")
    num_workers: int = arg(0, "DataLoader worker processes")
    threads: int = arg(0, "torch.set_num_threads; 0 keeps the default")
    resume: bool = arg(False, "continue from OUT/last.pt")
    progress: bool = arg(True, "tqdm progress bars with each loss part")

    def __post_init__(self) -> None:
        self.max_lens = tuple(int(x) for x in self.max_lens)
        self.drop_rates = tuple(float(x) for x in self.drop_rates)
        self.seeds = tuple(int(x) for x in self.seeds)
        if len(self.max_lens) != 3:
            raise ValueError(f"max_lens needs three values (text audio vision), got {self.max_lens}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if not self.drop_rates or any(not 0.0 <= p <= 1.0 for p in self.drop_rates):
            raise ValueError(f"drop_rates must be values in [0, 1], got {self.drop_rates}")
        if not 0.0 <= self.absent_rate <= 1.0:
            raise ValueError(f"absent_rate must be in [0, 1], got {self.absent_rate}")
        if self.teacher_only and self.teacher:
            raise ValueError("--teacher-only trains a teacher; it cannot be combined with --teacher")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError("epochs, batch_size and patience must be positive")

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        return from_dict(cls, d)
