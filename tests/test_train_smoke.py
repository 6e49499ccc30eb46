"""End to end on generated data: a short CPU run of train.distill learns, writes loadable checkpoints,
its config round-trips through --config, it is deterministic, resumable, and the IEMOCAP path works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from aumdf.checkpoint import load_checkpoint
from tests.conftest import TINY_TRAIN
from train.data import load_dataset
from train.distill import TrainConfig, load_train_data, parse_args, train
from train.synthetic import make_synthetic, write_mult

ROOT = Path(__file__).resolve().parents[1]
TINY = TINY_TRAIN  # mosi_dir and TINY_TRAIN: tests/conftest.py


@pytest.fixture(scope="module")
def trained(mosi_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    return train(TrainConfig(dataset="mosi", data_dir=str(mosi_dir), out=str(out), epochs=6, **TINY))


@pytest.mark.slow
def test_short_run_beats_mean_predictor_and_checkpoints_load(trained, mosi_dir):
    m = json.loads((trained / "metrics.json").read_text())
    student, base = m["student"]["valid_complete"]["mae"], m["baseline_valid"]["mae"]
    assert student < 0.9 * base, f"student valid MAE {student:.3f} vs mean predictor {base:.3f}"
    # every loss part is logged per epoch
    assert set(m["student"]["history"][0]["train"]) == {"loss", "task", "reg", "csd", "csd_floor", "srd"}
    assert set(m["teacher"]["history"][0]["train"]) == {"loss", "task", "reg"}
    spec = load_dataset("mosi", mosi_dir).feature_spec
    for role in ("teacher", "student"):
        ck = load_checkpoint(trained / role, expected_spec=spec)
        assert ck.metadata["role"] == role and ck.metadata["dataset"] == "mosi"
        assert ck.config.d_model == 16 and ck.feature_spec == spec
    # the saved hyper-parameters reload as the same config
    again = parse_args(["--config", str(trained / "train_config.json")])
    assert again == TrainConfig.from_dict(json.loads((trained / "train_config.json").read_text()))
    assert again.epochs == 6 and again.d_model == 16


@pytest.mark.slow
def test_resume_after_completion_does_not_retrain(trained, mosi_dir):
    before = json.loads((trained / "metrics.json").read_text())
    cfg = TrainConfig(dataset="mosi", data_dir=str(mosi_dir), out=str(trained), epochs=6, resume=True, **TINY)
    train(cfg)
    after = json.loads((trained / "metrics.json").read_text())
    assert after["student"]["history"] == before["student"]["history"]
    assert after["student"]["valid_complete"] == before["student"]["valid_complete"]


@pytest.mark.slow
@pytest.mark.parametrize("interrupt_after", [1, 3], ids=["in-teacher", "in-student"])
def test_interrupted_run_resumes_to_the_same_result(mosi_dir, tmp_path, monkeypatch, interrupt_after):
    """Kill a 2+2-epoch run after its n-th `last.pt` write, resume: same numbers as an uninterrupted run."""
    import train.distill as D

    kw = dict(dataset="mosi", data_dir=str(mosi_dir), epochs=2, **TINY)
    straight = json.loads((train(TrainConfig(out=str(tmp_path / "a"), **kw)) / "metrics.json").read_text())

    real_save, calls = torch.save, {"n": 0}

    def save_then_die(obj, path, *a, **k):
        real_save(obj, path, *a, **k)
        calls["n"] += 1
        if calls["n"] == interrupt_after:
            raise KeyboardInterrupt

    monkeypatch.setattr(D.torch, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=str(tmp_path / "b"), **kw))
    monkeypatch.setattr(D.torch, "save", real_save)
    resumed = json.loads((train(TrainConfig(out=str(tmp_path / "b"), resume=True, **kw)) / "metrics.json").read_text())
    # the frozen teacher's per-sample cache (aumdf.distill) starts empty after a resume and is refilled from
    # other batch compositions, so numbers agree to float rounding rather than bit for bit
    for key in (("student", "history"), ("student", "valid_complete"), ("teacher", "test_complete")):
        a, b = _leaves(resumed[key[0]][key[1]]), _leaves(straight[key[0]][key[1]])
        assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-7) for k in a), key


def _leaves(x, where: str = "") -> dict:
    """Nested dicts and lists -> {path: leaf}."""
    if isinstance(x, dict):
        return {k2: v for k, y in x.items() for k2, v in _leaves(y, f"{where}.{k}").items()}
    if isinstance(x, list):
        return {k2: v for i, y in enumerate(x) for k2, v in _leaves(y, f"{where}[{i}]").items()}
    return {where: x}


def test_cli_flags_come_from_the_config():
    cfg = parse_args(["--dataset", "iemocap", "--no-use-dwam", "--no-use-csd", "--max-lens", "20", "100", "50",
                      "--drop-rates", "0.1", "0.5", "--seeds", "1", "2"])
    assert cfg.dataset == "iemocap" and not cfg.use_dwam and not cfg.use_csd and cfg.use_srd
    assert cfg.max_lens == (20, 100, 50) and cfg.drop_rates == (0.1, 0.5) and cfg.seeds == (1, 2)
    d = TrainConfig()
    assert (d.lr, d.epochs, d.d_model, d.head_dropout, d.lambda_csd, d.patience) == (1e-3, 20, 300, 0.8, 0.1, 20)
    with pytest.raises(SystemExit):
        parse_args(["--drop-rates", "1.5"])


def test_iemocap_classification_run_and_ablation_flags(tmp_path):
    d = tmp_path / "iemocap"
    write_mult(make_synthetic(n=(48, 16, 16), task="classification", seed=2), d / "iemocap_data.pkl")
    out = train(TrainConfig(dataset="iemocap", data_dir=str(d), out=str(tmp_path / "run"), epochs=1,
                            use_dwam=False, use_srd=False, **TINY))
    m = json.loads((out / "metrics.json").read_text())
    assert m["selection"] == "weighted_f1"
    assert {"f1_happy", "wf1_sad", "accuracy"} <= set(m["student"]["valid_complete"])
    ck = load_checkpoint(out / "student")
    assert ck.config.task == "classification" and ck.config.n_classes == 4 and not ck.config.use_dwam
    assert ck.metadata["class_names"] == ["neutral", "happy", "sad", "angry"]


def test_missing_data_is_a_clear_cli_error(tmp_path):
    from train.distill import main

    # a SystemExit with a message: Python prints it without a traceback
    with pytest.raises(SystemExit) as e:
        main(["--dataset", "mosi", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"), "--no-progress"])
    assert "aligned_50.pkl" in str(e.value) and "thuiar/MMSA" in str(e.value)


@pytest.mark.slow
def test_torchrun_two_cpu_processes_gloo(mosi_dir, tmp_path):
    """The DistributedDataParallel path (gloo on CPU): 2 ranks train, rank 0 writes the outputs."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "train.distill", "--dataset", "mosi", "--data-dir", str(mosi_dir), "--out", str(out),
           "--epochs", "1", "--d-model", "16", "--n-heads", "2", "--batch-size", "16", "--threads", "1",
           "--no-progress", "--device", "cpu"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert "device cpu x2" in r.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert len(m["student"]["history"]) == 1
    load_checkpoint(out / "student")


def test_seeds_flag_trains_one_run_per_seed(mosi_dir, tmp_path):
    from train.distill import main
    from train.evaluate import find_students

    main(["--dataset", "mosi", "--data-dir", str(mosi_dir), "--out", str(tmp_path / "s"), "--seeds", "7", "8",
          "--epochs", "1", "--d-model", "16", "--n-heads", "2", "--threads", "1", "--no-progress"])
    assert [p.parent.name for p in find_students(tmp_path / "s")] == ["seed_7", "seed_8"]
    cfg7 = json.loads((tmp_path / "s" / "seed_7" / "train_config.json").read_text())
    assert cfg7["seed"] == 7 and cfg7["seeds"] == []


def _fake_demo_corpus(root: Path) -> Path:
    """The layout train.demo.corpus builds (manifest + one feature folder per source, with the source and
    teacher_view columns), from synthetic data: composites complete, natural sources with one modality each."""
    import dataclasses

    from features.feature_files import write_folder, write_manifest
    from train.demo.corpus import SOURCES

    src = make_synthetic(n=(24, 8, 8), strength=(2.0, 1.5, 1.0), noise=0.4, aligned=False, seed=9)
    write_mult(src, root / "tmp" / "mosi_data_noalign.pkl")
    base = load_dataset("mosi", root / "tmp")
    only = {"mosi": "text", "mosei": "text", "ravdess": "audio", "fer2013": "vision", "composite": None}
    for s in SOURCES:
        arrays = {}
        for split in ("train", "valid", "test"):
            a = base.split(split).parts[0]
            lengths = {m: (v if only[s] in (None, m) else np.zeros_like(v)) for m, v in a.lengths.items()}
            columns = {"source": np.full(len(a), s), "teacher_view": np.full(len(a), only[s] is None)}
            arrays[split] = dataclasses.replace(a, lengths=lengths, ids=[f"{s}:{split}:{i}" for i in a.ids],
                                                columns=columns)
        write_folder(root / s, arrays, base.feature_spec)
    write_manifest(root, SOURCES, base.feature_spec)
    return root


def test_demo_corpus_run_limits_distillation_to_teacher_views(tmp_path, monkeypatch):
    from aumdf.distill import Distiller

    root = _fake_demo_corpus(tmp_path / "demo")
    seen = []
    real_forward = Distiller.forward

    def spy(self, full, dropped, has_teacher_view=None):  # the view comes from the teacher_view column
        seen.append((list(full.ids), has_teacher_view.cpu().numpy().copy()))
        return real_forward(self, full, dropped, has_teacher_view)

    monkeypatch.setattr(Distiller, "forward", spy)
    out = train(TrainConfig(dataset="demo", data_dir=str(root), out=str(tmp_path / "run"), epochs=1, **TINY))
    m = json.loads((out / "metrics.json").read_text())
    assert m["dataset"] == "demo" and m["data_stats"]["sources"]["train"]["composite"] == 24
    ids = [i for batch_ids, _ in seen for i in batch_ids]
    assert len(ids) >= 5 * 24 - 16 and {i.split(":")[0] for i in ids} == {"mosi", "mosei", "ravdess", "fer2013", "composite"}
    for batch_ids, view in seen:
        np.testing.assert_array_equal(view, [i.startswith("composite:") for i in batch_ids])
    assert load_checkpoint(out / "teacher").trained_subsets == ("{l,a,v}",)
    assert load_checkpoint(out / "student").metadata["dataset"] == "demo"


def test_teacher_samples_recorded_gives_every_sample_a_teacher_view(tmp_path, monkeypatch):
    from aumdf.distill import Distiller
    from train.loop import TeacherStep

    root = _fake_demo_corpus(tmp_path / "demo")
    taught, distilled = [], []
    real_teacher, real_distiller = TeacherStep.forward, Distiller.forward

    def teacher_spy(self, batch):
        taught.extend(batch.ids)
        return real_teacher(self, batch)

    def distiller_spy(self, full, dropped, has_teacher_view=None):
        distilled.append(has_teacher_view.cpu().numpy().copy())
        return real_distiller(self, full, dropped, has_teacher_view)

    monkeypatch.setattr(TeacherStep, "forward", teacher_spy)
    monkeypatch.setattr(Distiller, "forward", distiller_spy)
    out = train(TrainConfig(dataset="demo", data_dir=str(root), out=str(tmp_path / "run"), epochs=1,
                            teacher_samples="recorded", **TINY))
    # the teacher learns from every source, each sample with only the modality its source has
    assert {i.split(":")[0] for i in taught} == {"mosi", "mosei", "ravdess", "fer2013", "composite"}
    assert len(taught) >= 5 * 24 - 16
    assert distilled and all(v.all() for v in distilled)
    m = json.loads((out / "metrics.json").read_text())
    assert m["teacher"]["best_epoch"] >= 1
    # the teacher's checkpoint names the subsets it learnt; the default run's teacher only the complete one
    assert load_checkpoint(out / "teacher").trained_subsets == ("{l,a,v}", "{l}", "{a}", "{v}")
    default = load_train_data(TrainConfig(dataset="demo", data_dir=str(root)))
    recorded = load_train_data(TrainConfig(dataset="demo", data_dir=str(root), teacher_samples="recorded"))
    assert default.valid.teacher_view.sum() == 8 and recorded.valid.teacher_view.all()
    # a filter keeps the choice: the teacher's validation set is every valid sample
    assert recorded.valid.where(recorded.valid.teacher_view).teacher_view.all()
    assert len(recorded.valid.where(recorded.valid.teacher_view)) == len(recorded.valid) == 5 * 8


def test_samples_per_epoch_draws_a_fixed_weighted_budget(mosi_dir):
    from train.loop import Context, make_loader

    ds = load_dataset("mosi", mosi_dir).train
    # two sources: the first five samples alone are one, so they are drawn as often as the other 91 together
    ds.parts[0].columns["source"] = np.array(["few"] * 5 + ["many"] * (len(ds) - 5))
    cfg = TrainConfig(batch_size=4, samples_per_epoch=48, seed=3)
    batches = list(make_loader(ds, cfg, Context(torch.device("cpu")), train=True, epoch=1))
    assert [b.size for b in batches] == [4] * 12
    drawn = [i for b in batches for i in b.ids]
    few = {ds[i].id for i in range(5)}
    assert 12 <= sum(i in few for i in drawn) <= 36
    again = [i for b in make_loader(ds, cfg, Context(torch.device("cpu")), train=True, epoch=1) for i in b.ids]
    assert again == drawn  # seeded by (seed, epoch): resumable
