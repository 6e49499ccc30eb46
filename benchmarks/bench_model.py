"""Student forward time for one clip (text 25x50, audio 150x74, vision 100x128) and parameter counts.

Target (issue: model): median <= 30 ms on a 2-core CPU at the demo width.
"""

from __future__ import annotations

import argparse

import torch

from aumdf.config import AUMDFConfig
from aumdf.model import AUMDF, count_parameters
from aumdf.types import Batch
from benchmarks.common import format_table, machine, median, p95, time_call

CLIP = {"text": (25, 50), "audio": (150, 74), "vision": (100, 128)}


def one_clip() -> Batch:
    g = torch.Generator().manual_seed(0)
    feats = {m: torch.randn(1, t, d, generator=g) for m, (t, d) in CLIP.items()}
    lengths = {m: torch.tensor([t]) for m, (t, _) in CLIP.items()}
    return Batch.from_lengths(feats, lengths)


def run(repeats: int = 20) -> list[dict]:
    dims = tuple(d for _, d in CLIP.values())
    rows = []
    batch = one_clip()
    for name, cfg, target in (
        ("demo width", AUMDFConfig.demo(dims), 30.0),
        ("paper width 300", AUMDFConfig.paper_table2(dims), None),
    ):
        model = AUMDF.from_config(cfg).eval()

        @torch.inference_mode()
        def fwd():
            model(batch)

        times = [t * 1000 for t in time_call(fwd, repeats=repeats, warmup=3)]
        row = {"benchmark": f"student forward, 1 clip, d={cfg.d_model}", "metric": "median", "value": median(times),
               "unit": "ms", "note": f"p95 {p95(times):.1f} ms; {name}"}
        if target:
            row["target"] = f"<= {target:g} ms"
        rows.append(row)
        rows.append({"benchmark": f"parameters, d={cfg.d_model}", "metric": "count", "value": count_parameters(model),
                     "unit": "params", "note": name})
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    print(machine())
    print(format_table(run(args.repeats)))
