"""train.evaluate on generated data with small checkpoints written directly (no training needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from aumdf import metrics as M
from aumdf.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from aumdf.config import AUMDFConfig
from aumdf.model import AUMDF
from aumdf.rprm import SUBSETS, keep_only, subset_name
from train.data import collate, load_dataset
from train.evaluate import CURVE_RATES, evaluate, evaluate_ablation, evaluate_run, find_students, main
from train.synthetic import make_synthetic, write_mult

# the machine's cores are shared: one thread avoids oversubscription (100x slower LSTMs otherwise)
torch.set_num_threads(1)


def _run(root: Path, splits, seed: int, task: str = "regression", **cfg_kw) -> Path:
    """A run folder (<root>/student) holding a tiny model with random weights."""
    torch.manual_seed(seed)
    n = len(splits.class_names) if task == "classification" else 1
    cfg = AUMDFConfig(input_dims=splits.feature_spec.dims, task=task, n_classes=n, d_model=16, n_heads=2,
                      dropout=0.0, head_dropout=0.0, **cfg_kw)
    meta = {"layout": splits.layout, "dataset": splits.name}
    save_checkpoint(root / "student", AUMDF.from_config(cfg), splits.feature_spec, meta)
    return root


@pytest.fixture(scope="module")
def mosi(tmp_path_factory):
    d = tmp_path_factory.mktemp("mosi")
    write_mult(make_synthetic(n=(24, 12, 20), aligned=False, seed=4), d / "mosi_data_noalign.pkl")
    return d, load_dataset("mosi", d)


def test_writes_all_subsets_curve_and_files(mosi, tmp_path):
    d, splits = mosi
    run = _run(tmp_path / "r", splits, 0)
    res = evaluate([run], "mosi", str(d), device="cpu")
    out = run / "eval_test"
    assert {p.name for p in out.iterdir()} >= {"results.json", "tables.md", "drop_curve.html"}
    on_disk = json.loads((out / "results.json").read_text())
    assert list(on_disk["mean"]["subsets"]) == ["{l}", "{a}", "{v}", "{l,a}", "{l,v}", "{a,v}", "{l,a,v}"]
    assert list(on_disk["mean"]["drop_curve"]) == [f"{p:.1f}" for p in CURVE_RATES]
    for k in M.REGRESSION_KEYS:
        assert k in on_disk["mean"]["subset_average"] and k in on_disk["mean"]["auc"]
    md = (out / "tables.md").read_text()
    assert "Table 3" in md and "| Average |" in md and "| AUC |" in md and "p = 1.0" in md
    # the average row is the mean of the 7 subsets; the AUC the trapezoid over the curve
    maes = [res["mean"]["subsets"][s]["mae"] for s in res["mean"]["subsets"]]
    assert res["mean"]["subset_average"]["mae"] == pytest.approx(np.mean(maes))
    curve = [res["mean"]["drop_curve"][f"{p:.1f}"]["mae"] for p in CURVE_RATES]
    assert res["mean"]["auc"]["mae"] == pytest.approx(np.trapezoid(curve, CURVE_RATES))


def test_subset_metrics_match_a_manual_computation(mosi, tmp_path):
    d, splits = mosi
    ck = load_checkpoint(_run(tmp_path / "r", splits, 1) / "student")
    r = evaluate_run(ck, splits, "test", rates=(0.0, 0.5), device="cpu")
    batch = collate([splits.test[i] for i in range(len(splits.test))])
    for s in SUBSETS:
        with torch.no_grad():
            pred = ck.model(keep_only(batch, s)).prediction.numpy()
        assert r["subsets"][subset_name(s)]["mae"] == pytest.approx(M.mae(pred, batch.labels.numpy()), abs=1e-5)
    # dropping all frames of a modality changes the prediction: the subsets are not all the same
    assert len({round(v["mae"], 6) for v in r["subsets"].values()}) > 1


def test_seed_runs_give_mean_and_std(mosi, tmp_path):
    d, splits = mosi
    for s in (1111, 1112, 1113):
        _run(tmp_path / "seeds" / f"seed_{s}", splits, s)
    assert len(find_students(tmp_path / "seeds")) == 3
    res = evaluate([tmp_path / "seeds"], "mosi", str(d), seeds=[1111, 1112], device="cpu", out=tmp_path / "ev")
    assert res["n_runs"] == 2
    maes = [r["subsets"]["{l}"]["mae"] for r in res["runs"]]
    assert res["mean"]["subsets"]["{l}"]["mae"] == pytest.approx(np.mean(maes))
    assert res["std"]["subsets"]["{l}"]["mae"] == pytest.approx(np.std(maes, ddof=1))
    assert " ± " in (tmp_path / "ev" / "tables.md").read_text()
    with pytest.raises(CheckpointError, match="seed_9"):
        find_students(tmp_path / "seeds", seeds=[9])


def test_iemocap_table5_per_emotion(tmp_path):
    d = tmp_path / "iemocap"
    write_mult(make_synthetic(n=(16, 8, 24), task="classification", seed=6), d / "iemocap_data.pkl")
    splits = load_dataset("iemocap", d)
    run = _run(tmp_path / "r", splits, 0, task="classification")
    res = evaluate([run], "iemocap", str(d), device="cpu", rates=(0.0, 0.5, 1.0))
    row = res["mean"]["subsets"]["{l,a,v}"]
    assert {"wf1_happy", "wf1_sad", "wf1_angry", "wf1_neutral", "f1_happy", "weighted_f1"} <= set(row)
    md = (run / "eval_test" / "tables.md").read_text()
    assert "Table 5" in md and md.index("happy F1") < md.index("sad F1") < md.index("angry F1") < md.index("neutral F1")


def test_ablation_tables(mosi, tmp_path):
    d, splits = mosi
    full = _run(tmp_path / "full", splits, 0)
    no_dwam = _run(tmp_path / "nodwam", splits, 0, use_dwam=False)
    res = evaluate_ablation({"full": full, "no-dwam": no_dwam}, "mosi", str(d), device="cpu", out=tmp_path / "ab")
    assert set(res["variants"]) == {"full", "no-dwam"}
    assert set(res["variants"]["full"]["mean"]) == {"p = 0.2", "complete", "subset average"}
    md = (tmp_path / "ab" / "ablation.md").read_text()
    assert "| full |" in md and "| no-dwam |" in md


def test_mismatched_features_and_missing_checkpoint_are_refused(mosi, tmp_path):
    d, splits = mosi
    other = tmp_path / "other"
    write_mult(make_synthetic(n=(8, 4, 4), dims=(5, 8, 6), aligned=False), other / "mosi_data_noalign.pkl")
    run = _run(tmp_path / "r", splits, 0)
    with pytest.raises(CheckpointError, match="text.dim"):
        evaluate([run], "mosi", str(other), device="cpu")
    with pytest.raises(SystemExit, match="no checkpoint under"):
        main(["--checkpoint", str(tmp_path / "nothing"), "--dataset", "mosi", "--data-dir", str(d)])
