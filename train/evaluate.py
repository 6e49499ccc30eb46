"""Regenerate the paper's robustness tables and figures from trained checkpoints.

    python -m train.evaluate --checkpoint runs/mosi/x --dataset mosi
    python -m train.evaluate --checkpoint runs/mosi/seeds --dataset mosi --seeds 1111 1112 1113
    python -m train.evaluate --dataset mosi --ablation full=runs/mosi/a no-dwam=runs/mosi/b no-csd=runs/mosi/c
    python -m train.evaluate --dataset demo --checkpoint checkpoints/default --data-dir data/demo

(The demo corpus's own report, teacher beside student per real source, is `python -m train.demo.evaluate`.)

What is computed on the chosen split (default test), for the student of each run:
  * Tables 3-4 (MOSI/MOSEI) / Table 5 (IEMOCAP): the 7 test-time modality subsets of aumdf.rprm.SUBSETS
    ({l}, {a}, {v}, {l,a}, {l,v}, {a,v}, {l,a,v}: absent modalities switched off for every sample)
    and their average: MAE, Corr, Acc-2 and F1 (has-0 and non-0), Acc-7; for IEMOCAP per-emotion F1.
  * Figures 4-6: every metric against the frame drop rate p = 0.0, 0.1, ..., 1.0 (RPRM on all
    three modalities, a generator seeded with --eval-seed at the start of each p), and the area
    under each curve (trapezoid rule over p; with p spanning [0, 1] it is the curve's mean height).
  * Tables 6-7 (--ablation NAME=DIR ...): each variant at p = --ablation-rate (default 0.2, as in the
    paper) and on complete data, plus its 7-subset average.
Several runs (--checkpoint given several times, or a folder of seed_<s>/ runs) give mean ± std
(sample standard deviation, ddof = 1) over the runs.

Output folder (default <first run>/eval_<split>/): results.json, tables.md, drop_curve.html and,
when plotly's static exporter (kaleido) is installed, drop_curve.png.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from aumdf.checkpoint import CheckpointError, LoadedCheckpoint, load_checkpoint
from aumdf.rprm import SUBSETS, drop_frames, keep_only, subset_name
from aumdf.cli import arg, parse_config
from aumdf.progress import progress
from train.data import DATASETS, LAYOUTS, DatasetSplits, collate, load_dataset
from train.engine import predict, resolve_device, score
from train.io import write_json

CURVE_RATES: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
# Table 5 prints the emotions in the paper's order
PAPER_EMOTION_ORDER = ("happy", "sad", "angry", "neutral")


# ------------------------------------------------------------------ finding checkpoints


def find_students(path: Path | str, seeds: Sequence[int] = ()) -> list[Path]:
    """A checkpoint folder, a run folder (<run>/student) or a folder of seed_<s> runs -> student folders."""
    path = Path(path)
    if (path / "config.json").is_file():
        return [path]
    if (path / "student" / "config.json").is_file():
        return [path / "student"]
    runs = sorted(p for p in path.glob("seed_*") if (p / "student" / "config.json").is_file())
    if seeds:
        wanted = {f"seed_{s}" for s in seeds}
        missing = sorted(wanted - {p.name for p in runs})
        if missing:
            raise CheckpointError(f"{path} has no trained run for {missing} (found {[p.name for p in runs]})")
        runs = [p for p in runs if p.name in wanted]
    if not runs:
        raise CheckpointError(f"no checkpoint under {path}: expected config.json + model.safetensors there, "
                              "a student/ folder (a train.distill run), or seed_<s>/student folders")
    return [p / "student" for p in runs]


def load_data_for(ckpt: LoadedCheckpoint, dataset: str, data_dir: str | None, layout: str) -> DatasetSplits:
    """Read the dataset the way the checkpoint saw it (same layout and maximum lengths)."""
    known = DATASETS[dataset].files if dataset in DATASETS else {}
    if layout == "auto" and ckpt.metadata.get("layout") in known:  # a layout this dataset still has
        layout = ckpt.metadata["layout"]
    splits = load_dataset(dataset, data_dir, layout)
    if splits.feature_spec.text.layout == "unaligned":
        splits = splits.truncated(ckpt.feature_spec.max_lens)
    diff = ckpt.feature_spec.diff(splits.feature_spec)
    if diff:
        raise CheckpointError(f"the checkpoint at {ckpt.path} was trained on other features than {splits.source}:\n  "
                              + "\n  ".join(diff))
    return splits


# ------------------------------------------------------------------ one run


def _scores(ckpt: LoadedCheckpoint, loader: DataLoader, device: torch.device, splits: DatasetSplits, transform=None):
    return score(splits.task, *predict(ckpt.model, loader, device, transform=transform), splits.class_names,
                 ckpt.config.class_heads)


def _drop(p: float, seed: int):
    g = torch.Generator().manual_seed(seed)
    return lambda batch, i: drop_frames(batch, p, g)


def evaluate_run(
    ckpt: LoadedCheckpoint,
    splits: DatasetSplits,
    split: str = "test",
    rates: Sequence[float] = CURVE_RATES,
    eval_seed: int = 0,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    show_progress: bool = False,
) -> dict[str, Any]:
    """-> {"subsets": {name: metrics}, "subset_average": metrics, "drop_curve": {p: metrics}, "auc": metrics}.

    One pass over the split per modality subset and per drop rate; `show_progress` counts the passes."""
    device = torch.device(device)
    ckpt.model.to(device).eval()
    loader = DataLoader(splits.split(split), batch_size=batch_size, shuffle=False, collate_fn=collate)
    passes = [("subset", subset_name(s), lambda b, i, s=s: keep_only(b, s)) for s in SUBSETS]
    passes += [("curve", f"{p:.1f}", _drop(p, eval_seed)) for p in rates]
    out: dict[str, dict[str, Any]] = {"subset": {}, "curve": {}}
    for kind, name, transform in progress(passes, f"evaluating {split}", unit="pass", enabled=show_progress):
        out[kind][name] = _scores(ckpt, loader, device, splits, transform)
    subsets, curve = out["subset"], out["curve"]
    return {
        "subsets": subsets,
        "subset_average": _mean_of(list(subsets.values())),
        "drop_curve": curve,
        "auc": _auc(list(rates), list(curve.values())),
    }


def _mean_of(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.nanmean([r[k] for r in rows])) if not all(_nan(r[k]) for r in rows) else float("nan")
            for k in rows[0]}


def _nan(x: float) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _auc(rates: list[float], rows: list[dict[str, float]]) -> dict[str, float]:
    if len(rates) < 2:
        return {}
    x = np.asarray(rates, dtype=np.float64)
    return {k: float(np.trapezoid(np.asarray([r[k] for r in rows], dtype=np.float64), x)) for k in rows[0]}


# ------------------------------------------------------------------ several runs: mean ± std


def aggregate(runs: list[dict]) -> tuple[dict, dict]:
    """Leaf-wise mean and sample std (ddof 1; 0 for a single run) over runs of identical structure."""

    def walk(items: list[Any]) -> tuple[Any, Any]:
        if isinstance(items[0], dict):
            pairs = {k: walk([it[k] for it in items]) for k in items[0]}
            return {k: v[0] for k, v in pairs.items()}, {k: v[1] for k, v in pairs.items()}
        a = np.asarray([np.nan if _nan(v) else v for v in items], dtype=np.float64)
        if np.all(np.isnan(a)):
            return float("nan"), float("nan")
        return float(np.nanmean(a)), float(np.nanstd(a, ddof=1)) if np.sum(~np.isnan(a)) > 1 else 0.0

    return walk(runs)


# ------------------------------------------------------------------ tables and figure


def _cell(mean: float, std: float, n: int, pct: bool) -> str:
    if _nan(mean):
        return "–"
    k = 100.0 if pct else 1.0
    digits = 2 if pct else 3
    s = f"{mean * k:.{digits}f}"
    return s + (f" ± {std * k:.{digits}f}" if n > 1 else "")


REG_COLUMNS = (("MAE", "mae", False), ("Corr", "corr", False), ("Acc-2 has-0", "acc2_has0", True),
               ("F1 has-0", "f1_has0", True), ("Acc-2 non-0", "acc2_non0", True), ("F1 non-0", "f1_non0", True),
               ("Acc-7", "acc7", True))


def _columns(task: str, class_names: Sequence[str]) -> list[tuple[str, str, bool]]:
    if task == "regression":
        return list(REG_COLUMNS)
    order = [e for e in PAPER_EMOTION_ORDER if e in class_names] + [e for e in class_names if e not in PAPER_EMOTION_ORDER]
    return ([(f"{e} F1", f"wf1_{e}", True) for e in order]
            + [("Acc", "accuracy", True), ("macro F1", "macro_f1", True), ("weighted F1", "weighted_f1", True)])


def _md_table(title: str, rows: list[tuple[str, dict, dict]], cols, n: int) -> str:
    head = "| " + " | ".join(["", *(c[0] for c in cols)]) + " |"
    sep = "|" + "---|" * (len(cols) + 1)
    body = ["| " + " | ".join([name, *(_cell(mean[k], std[k], n, pct) for _, k, pct in cols)]) + " |"
            for name, mean, std in rows]
    return "\n".join([f"### {title}", "", head, sep, *body, ""])


def render_markdown(res: dict[str, Any]) -> str:
    task, n = res["task"], res["n_runs"]
    mean, std, cols = res["mean"], res["std"], _columns(task, res["class_names"])
    info = DATASETS.get(res["dataset"])
    which = info.paper_table if info and info.paper_table else "Subsets"
    runs = f"{n} run{'s' if n > 1 else ''}" + (" (mean ± std)" if n > 1 else "")
    out = [f"# {res['dataset']} — {res['split']} split, {runs}", ""]
    rows = [(s, mean["subsets"][s], std["subsets"][s]) for s in mean["subsets"]]
    rows.append(("Average", mean["subset_average"], std["subset_average"]))
    out.append(_md_table(f"{which}: test-time modality subsets", rows, cols, n))
    rows = [(f"p = {p}", mean["drop_curve"][p], std["drop_curve"][p]) for p in mean["drop_curve"]]
    rows.append(("AUC", mean["auc"], std["auc"]))
    out.append(_md_table("Figures 4–6: frame drop rate p on all modalities", rows, cols, n))
    if task == "classification":
        out.append("Per-emotion F1 is the support-weighted F1 of the binary task \"emotion or not\" "
                   "(the MulT/IEMOCAP convention the paper follows); see aumdf/metrics.py.\n")
    return "\n".join(out)


def write_figure(res: dict[str, Any], out: Path) -> list[Path]:
    """Metrics against drop rate (±std over runs): HTML always, PNG when a static exporter exists."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    task = res["task"]
    keys = (["mae", "f1_non0", "acc2_non0", "acc7"] if task == "regression"
            else ["weighted_f1", *(f"wf1_{e}" for e in PAPER_EMOTION_ORDER if e in res["class_names"])])
    rates = [float(p) for p in res["mean"]["drop_curve"]]
    fig = make_subplots(rows=1, cols=len(keys), subplot_titles=[
        f"{k} (AUC {res['mean']['auc'][k]:.3f})" for k in keys])
    for j, k in enumerate(keys, start=1):
        ys = [res["mean"]["drop_curve"][p][k] for p in res["mean"]["drop_curve"]]
        es = [res["std"]["drop_curve"][p][k] for p in res["std"]["drop_curve"]]
        fig.add_trace(go.Scatter(x=rates, y=ys, error_y=dict(type="data", array=es, visible=res["n_runs"] > 1),
                                 mode="lines+markers", name=k), row=1, col=j)
        fig.update_xaxes(title_text="frame drop rate p", row=1, col=j)
    fig.update_layout(title=f"{res['dataset']}: metrics against frame drop rate ({res['split']} split)",
                      height=380, width=320 * len(keys), showlegend=False)
    written = [out / "drop_curve.html"]
    fig.write_html(written[0], include_plotlyjs=True)  # self-contained: opens offline
    try:
        fig.write_image(out / "drop_curve.png")
        written.append(out / "drop_curve.png")
    except Exception as e:  # kaleido (and its browser) is optional; the HTML carries the same figure
        res.setdefault("notes", []).append(f"no PNG: plotly static export unavailable ({type(e).__name__})")
    return written


# ------------------------------------------------------------------ entry points


def evaluate(
    checkpoints: Sequence[Path | str],
    dataset: str,
    data_dir: str | None = None,
    layout: str = "auto",
    seeds: Sequence[int] = (),
    split: str = "test",
    rates: Sequence[float] = CURVE_RATES,
    eval_seed: int = 0,
    batch_size: int = 64,
    device: str = "auto",
    out: Path | str | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Evaluate every student found under `checkpoints`; write results.json, tables.md and the figure."""
    dev = resolve_device(device)
    students = [s for c in checkpoints for s in find_students(c, seeds)]
    per_run, splits = [], None
    for path in students:
        ckpt = load_checkpoint(path, map_location="cpu")
        if splits is None or ckpt.feature_spec.diff(splits.feature_spec):
            splits = load_data_for(ckpt, dataset, data_dir, layout)
        r = evaluate_run(ckpt, splits, split, rates, eval_seed, batch_size, dev, show_progress)
        r["checkpoint"] = str(path)
        per_run.append(r)
        print(f"{path}: {'/'.join(f'{k} {v:.4f}' for k, v in list(r['subsets']['{l,a,v}'].items())[:3])} on {{l,a,v}}")
    mean, std = aggregate([{k: r[k] for k in ("subsets", "subset_average", "drop_curve", "auc")} for r in per_run])
    res = {"dataset": dataset, "split": split, "task": splits.task, "class_names": list(splits.class_names),
           "layout": splits.layout, "n_runs": len(per_run), "eval_seed": eval_seed, "rates": list(rates),
           "mean": mean, "std": std, "runs": per_run}
    out = Path(out) if out else students[0].parent / f"eval_{split}"
    out.mkdir(parents=True, exist_ok=True)
    res["figures"] = [str(p) for p in write_figure(res, out)]
    (out / "tables.md").write_text(render_markdown(res))
    write_json(out / "results.json", res)
    print(f"wrote {out / 'results.json'}, {out / 'tables.md'}, " + ", ".join(res["figures"]))
    return res


def evaluate_ablation(
    variants: dict[str, Path | str],
    dataset: str,
    data_dir: str | None = None,
    layout: str = "auto",
    seeds: Sequence[int] = (),
    split: str = "test",
    rate: float = 0.2,
    eval_seed: int = 0,
    batch_size: int = 64,
    device: str = "auto",
    out: Path | str | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Tables 6-7: each variant (a run folder or folder of seed runs) at p = rate, on complete data, and
    its 7-subset average; mean ± std over the variant's runs."""
    dev = resolve_device(device)
    rows, task, names = {}, None, ()
    for name, path in variants.items():
        runs = []
        for s in find_students(path, seeds):
            ckpt = load_checkpoint(s, map_location="cpu")
            splits = load_data_for(ckpt, dataset, data_dir, layout)
            task, names = splits.task, splits.class_names
            r = evaluate_run(ckpt, splits, split, (0.0, rate), eval_seed, batch_size, dev, show_progress)
            runs.append({f"p = {rate}": r["drop_curve"][f"{rate:.1f}"], "complete": r["drop_curve"]["0.0"],
                         "subset average": r["subset_average"]})
        mean, std = aggregate(runs)
        rows[name] = {"mean": mean, "std": std, "n_runs": len(runs)}
    cols = _columns(task, names)
    md = [f"# Ablation (Tables 6–7) — {dataset}, {split} split", ""]
    for setting in (f"p = {rate}", "complete", "subset average"):
        table_rows = [(name, r["mean"][setting], r["std"][setting]) for name, r in rows.items()]
        n = max(r["n_runs"] for r in rows.values())
        md.append(_md_table(setting, table_rows, cols, n))
    res = {"dataset": dataset, "split": split, "rate": rate, "task": task, "variants": rows}
    out = Path(out) if out else Path("runs") / dataset / "ablation"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.md").write_text("\n".join(md))
    write_json(out / "ablation.json", res)
    print(f"wrote {out / 'ablation.json'}, {out / 'ablation.md'}")
    return res


@dataclass
class EvalConfig:
    dataset: str = arg(help="the dataset the checkpoints were trained on", choices=tuple(DATASETS))
    checkpoint: tuple[str, ...] = arg((), "checkpoint, run, or seed-runs folder(s)")
    data_dir: str | None = arg(None, "default data/<dataset>/")
    layout: str = arg("auto", "auto: the layout the checkpoint was trained on", choices=LAYOUTS)
    seeds: tuple[int, ...] = arg((), "only these seed_<s> runs (default: all)")
    split: str = arg("test", "the split scored", choices=("valid", "test"))
    drop_rates: tuple[float, ...] = arg(CURVE_RATES, "frame drop rates of the curve")
    eval_seed: int = arg(0, "seed of the frame-drop draws")
    batch_size: int = arg(64, "samples per batch")
    device: str = arg("auto", "auto | cpu | cuda | cuda:N")
    threads: int = arg(0, "torch.set_num_threads; 0 keeps the default")
    out: str | None = arg(None, "default <first run>/eval_<split>/")
    ablation: tuple[str, ...] = arg((), "Tables 6-7: compare variants (e.g. full=runs/a no-dwam=runs/b)",
                                    metavar="NAME=DIR")
    ablation_rate: float = arg(0.2, "the drop rate of the ablation table")
    progress: bool = arg(True, "a progress bar over the evaluation passes (never when stderr is not a terminal or $CI "
                               "is set)")


def main(argv: Sequence[str] | None = None) -> None:
    a = parse_config(EvalConfig, argv, prog="python -m train.evaluate", description=__doc__.split("\n\n")[0])
    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        if a.ablation:
            pairs = [v.split("=", 1) for v in a.ablation]
            if any(len(p) != 2 for p in pairs):
                raise SystemExit("--ablation takes NAME=DIR pairs, e.g. full=runs/mosi/a no-dwam=runs/mosi/b")
            evaluate_ablation(dict(pairs), a.dataset, a.data_dir, a.layout, a.seeds, a.split, a.ablation_rate,
                              a.eval_seed, a.batch_size, a.device, a.out, a.progress)
        elif a.checkpoint:
            evaluate(a.checkpoint, a.dataset, a.data_dir, a.layout, a.seeds, a.split, a.drop_rates, a.eval_seed,
                     a.batch_size, a.device, a.out, a.progress)
        else:
            raise SystemExit("give --checkpoint DIR (or --ablation NAME=DIR ...)")
    except (ValueError, CheckpointError, FileNotFoundError) as e:  # DataError is a ValueError
        raise SystemExit(f"error: {e}")


if __name__ == "__main__":
    main()
