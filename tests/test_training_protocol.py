"""The training protocol: Table 2's defaults, model selection that never reads the test split, a --teacher of
another width refused before any training, whole-modality absence from the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import train.distill as distill_mod
import train.loop as loop_mod
from aumdf.checkpoint import save_checkpoint
from aumdf.config import AUMDFConfig
from aumdf.model import AUMDF
from aumdf.rprm import TRAIN_DROP_RATES
from train.data import load_dataset
from train.distill import TrainConfig, parse_args, train
from train.synthetic import make_synthetic, write_mult

TINY = dict(d_model=16, n_heads=2, head_dropout=0.0, dropout=0.0, batch_size=16, lr=3e-3, threads=1, progress=False)


@pytest.fixture(scope="module")
def mosi_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("mosi")
    write_mult(make_synthetic(n=(64, 32, 32), strength=(2.0, 1.5, 1.0), noise=0.4, seed=5), d / "mosi_data.pkl")
    return d


def test_table2_defaults():
    cfg = TrainConfig()
    # Table 2: 20 epochs, dropout 0.8, hidden 300, lr 0.001, drop rate p in [0.1, 0.7], max lengths 25/150/100,
    # lambda_1 = lambda_2 = lambda_3 = 0.1, early stopping after 20 epochs; Adam (train.loop.run_phase)
    assert cfg.epochs == 20 and cfg.teacher_epochs == 0  # 0: the teacher also trains 20
    assert cfg.head_dropout == 0.8
    assert cfg.d_model == 300
    assert cfg.lr == 1e-3 and cfg.weight_decay == 0.0
    assert cfg.max_lens == (25, 150, 100)
    assert cfg.lambda_reg == cfg.lambda_csd == cfg.lambda_srd == 0.1
    assert cfg.use_reg and cfg.use_csd and cfg.use_srd and cfg.use_dwam and cfg.use_rem
    assert cfg.patience == 20
    # p from {0, 0.1, ..., 0.7}: the paper's range plus 0 (complete batches, as the teacher sees)
    assert cfg.drop_rates == TRAIN_DROP_RATES == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    # not in Table 2, chosen by us: batch 32 (the paper gives none), whole-modality absence 0.6 (on validation)
    assert cfg.batch_size == 32
    assert cfg.absent_rate == 0.6
    paper = AUMDFConfig.paper_table2((300, 74, 35))
    assert paper.d_model == 300 and paper.head_dropout == 0.8 and paper.n_layers == 1


def test_absent_rate_is_a_flag():
    assert parse_args(["--absent-rate", "0.5"]).absent_rate == 0.5
    assert parse_args(["--absent-rate", "0"]).absent_rate == 0.0
    with pytest.raises(SystemExit):
        parse_args(["--absent-rate", "1.5"])


def test_model_selection_never_reads_the_test_split(mosi_dir, tmp_path, monkeypatch):
    splits = load_dataset("mosi", mosi_dir)
    test_ids = set(splits.test.ids)
    assert test_ids.isdisjoint(splits.train.ids) and test_ids.isdisjoint(splits.valid.ids)
    reads: list[tuple[str, bool]] = []  # (phase or "after", loader over test samples?)
    phase = {"now": "before"}
    real_loader, real_run_phase = loop_mod.make_loader, distill_mod.run_phase

    def spy_loader(ds, *a, **kw):
        reads.append((phase["now"], bool(test_ids & set(ds.ids))))
        return real_loader(ds, *a, **kw)

    def spy_run_phase(p, *a, **kw):
        phase["now"] = p.name
        try:
            return real_run_phase(p, *a, **kw)
        finally:
            phase["now"] = "after"

    monkeypatch.setattr(loop_mod, "make_loader", spy_loader)
    monkeypatch.setattr(distill_mod, "make_loader", spy_loader)
    monkeypatch.setattr(distill_mod, "run_phase", spy_run_phase)
    train(TrainConfig(dataset="mosi", data_dir=str(mosi_dir), out=str(tmp_path), epochs=2, **TINY))
    during = [(p, t) for p, t in reads if p in ("teacher", "student")]
    assert {p for p, _ in during} == {"teacher", "student"}  # the spy saw both phases' loaders
    assert not any(t for _, t in during), f"a loader over test samples was built during model selection: {reads}"
    assert not any(t for p, t in reads if p == "before")
    assert any(t for p, t in reads if p == "after")  # the final report does score the test split


def test_a_teacher_of_another_width_stops_before_training(mosi_dir, tmp_path):
    spec = load_dataset("mosi", mosi_dir).feature_spec
    torch.manual_seed(0)
    teacher = AUMDF.from_config(AUMDFConfig.paper_table2(spec.dims, d_model=16, n_heads=2))
    save_checkpoint(tmp_path / "teacher16", teacher, spec)
    out = tmp_path / "run"
    with pytest.raises(SystemExit, match=r"d_model=16.*d_model=24.*--d-model 16"):
        train(TrainConfig(dataset="mosi", data_dir=str(mosi_dir), out=str(out), epochs=1,
                          teacher=str(tmp_path / "teacher16"), **{**TINY, "d_model": 24}))
    assert not (out / "student").exists() and not (out / "last.pt").exists()


def test_teacher_only_then_a_student_from_it(mosi_dir, tmp_path):
    import json

    first = train(TrainConfig(dataset="mosi", data_dir=str(mosi_dir), out=str(tmp_path / "t"), epochs=1,
                              teacher_only=True, **TINY))
    assert (first / "teacher").is_dir() and not (first / "student").exists()
    m = json.loads((first / "metrics.json").read_text())
    assert "student" not in m and m["teacher"]["test_complete"]["mae"] > 0
    second = train(TrainConfig(dataset="mosi", data_dir=str(mosi_dir), out=str(tmp_path / "s"), epochs=1,
                               teacher=str(first / "teacher"), **TINY))
    assert (second / "student").is_dir()
    with pytest.raises(ValueError, match="--teacher-only"):
        TrainConfig(teacher_only=True, teacher=str(first / "teacher"))


def test_a_modality_that_loads_empty_is_said_out_loud(tmp_path, caplog):
    import pickle

    from train.data import DataError
    from train.synthetic import write_mmsa

    path = write_mmsa(make_synthetic(n=(16, 8, 8), seed=1, aligned=False), tmp_path / "unaligned_50.pkl")
    data = pickle.loads(path.read_bytes())
    for split in data.values():
        split["text_bert"][:, 1] = 0  # the mask row all zeros: every text sequence has length 0
    path.write_bytes(pickle.dumps(data))
    with pytest.raises(DataError, match=r"text is empty for 16/16 samples of the train split.*text_bert\[:, 1\].*"
                                        r"--allow-empty-modality"):
        load_dataset("mosi", path, allow_empty=False)
    with caplog.at_level("WARNING", logger="train.data"):
        splits = load_dataset("mosi", path, allow_empty=True)
    assert splits.stats["empty_modalities"]["train"]["text"] == 16
    assert "text is empty for 16/16 samples" in caplog.text and "text_bert" in caplog.text
    with pytest.raises(SystemExit, match="allow-empty-modality"):
        distill_mod.main(["--dataset", "mosi", "--data-dir", str(path), "--out", str(tmp_path / "run"), "--epochs", "1",
                          "--d-model", "16", "--n-heads", "2", "--threads", "1", "--no-progress"])
    assert TrainConfig().allow_empty_modality is False
