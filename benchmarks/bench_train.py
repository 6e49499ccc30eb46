"""Training throughput on MOSI-sized inputs, teacher and student phases, and the extrapolated wall
time of a full 20-epoch MOSI run (issue: training, "Performance").

Measured: one optimisation step (forward, backward, Adam) of exactly what train.distill runs —
`TeacherStep` on complete batches, `StudentStep` (frozen teacher + student + CSD/SRD) on batches after
RPRM at p = 0.4 — at the paper's width (d = 300, Table 2), batch 32, for the two
MOSI shapes: word-aligned (50 steps each, dims 300/74/35, the MulT files) and unaligned (text 25,
audio 150, vision 100 frames, Table 2's maximum lengths). Validation is timed as an inference pass.
The frozen teacher's representations are cached per sample (aumdf.distill.FrozenTeacher), so the
student step is timed with a warm cache, and the first student epoch pays one teacher forward pass over
the training set. Extrapolation for MOSI (1281 train / 229 valid samples), 20 epochs of each phase, no
early stop:
    20 * (1281 / teacher_sps + 229 / eval_sps) + 20 * (1281 / student_sps + 229 / eval_sps) + 1281 / eval_sps
Data loading is left out (the collate of pre-loaded arrays is < 1 % of a step here). Threads: the
trainer's default (torch's, one per core) unless --threads says otherwise.
"""

from __future__ import annotations

import argparse

import torch

from aumdf.config import AUMDFConfig
from aumdf.distill import Distiller
from aumdf.model import AUMDF
from aumdf.rprm import drop_frames
from aumdf.types import MODALITIES, Batch
from benchmarks.common import format_table, machine, median, time_call
from train.loop import StudentStep, TeacherStep

SHAPES = {
    "aligned 50": {"text": 50, "audio": 50, "vision": 50},
    "unaligned 25/150/100": {"text": 25, "audio": 150, "vision": 100},
}
DIMS = (300, 74, 35)
MOSI_TRAIN, MOSI_VALID, EPOCHS = 1281, 229, 20


def mosi_batch(shape: dict[str, int], b: int = 32, seed: int = 0) -> Batch:
    """Random features with MOSI-like varied lengths (between half and all of the maximum)."""
    g = torch.Generator().manual_seed(seed)
    feats = {m: torch.randn(b, shape[m], d, generator=g) for m, d in zip(MODALITIES, DIMS)}
    lengths = {m: torch.randint(shape[m] // 2, shape[m] + 1, (b,), generator=g) for m in MODALITIES}
    if shape["text"] == shape["audio"] == shape["vision"]:  # word-aligned: one length per sample
        lengths = {m: lengths["text"] for m in MODALITIES}
    feats = {m: feats[m] * (torch.arange(shape[m])[None, :, None] < lengths[m][:, None, None]) for m in MODALITIES}
    return Batch.from_lengths(feats, lengths, labels=torch.empty(b).uniform_(-3, 3, generator=g),
                              ids=[f"{seed}-{i}" for i in range(b)])


def run(repeats: int = 5, batch_size: int = 32, d_model: int = 300, steps: int = 1, threads: int = 0) -> list[dict]:
    if threads:
        torch.set_num_threads(threads)
    rows = []
    for name, shape in SHAPES.items():
        torch.manual_seed(0)
        cfg = AUMDFConfig.paper_table2(DIMS, d_model=d_model)
        batch = mosi_batch(shape, batch_size)
        dropped = drop_frames(batch, 0.4, torch.Generator().manual_seed(1))

        teacher = AUMDF.from_config(cfg)
        t_step = TeacherStep(teacher, 0.1).train()
        t_opt = torch.optim.Adam(teacher.parameters(), lr=1e-3)

        def teacher_steps():
            for _ in range(steps):
                loss, _ = t_step(batch)
                t_opt.zero_grad(set_to_none=True)
                loss.backward()
                t_opt.step()

        student = AUMDF.from_config(cfg)
        # a separate frozen teacher: Distiller switches its teacher's gradients off
        s_step = StudentStep(Distiller(AUMDF.from_config(cfg), student)).train()
        s_opt = torch.optim.Adam([p for p in s_step.parameters() if p.requires_grad], lr=1e-3)

        def student_steps():
            for _ in range(steps):
                loss, _ = s_step(batch, dropped)
                s_opt.zero_grad(set_to_none=True)
                loss.backward()
                s_opt.step()

        @torch.inference_mode()
        def evaluate():
            student.eval()
            for _ in range(steps):
                student(dropped)
            student.train()

        sps = {}
        for phase, fn in (("teacher", teacher_steps), ("student", student_steps), ("eval", evaluate)):
            secs = time_call(fn, repeats=repeats, warmup=1)
            sps[phase] = steps * batch_size / median(secs)
            rows.append({"benchmark": f"train {phase}, MOSI {name}, d={d_model}, batch {batch_size}",
                         "metric": "throughput (median)", "value": sps[phase], "unit": "samples/s",
                         "note": f"{repeats} x {steps} steps" + ("; forward only" if phase == "eval" else "")})
        epoch_t = MOSI_TRAIN / sps["teacher"] + MOSI_VALID / sps["eval"]
        epoch_s = MOSI_TRAIN / sps["student"] + MOSI_VALID / sps["eval"]
        first_teacher_pass = MOSI_TRAIN / sps["eval"]  # fills the teacher cache in the first student epoch
        rows.append({"benchmark": f"full MOSI run, {name}, d={d_model}", "metric": f"{EPOCHS}+{EPOCHS} epochs (extrapolated)",
                     "value": (EPOCHS * (epoch_t + epoch_s) + first_teacher_pass) / 60, "unit": "min",
                     "note": f"teacher {epoch_t:.0f} s/epoch, student {epoch_s:.0f} s/epoch, {torch.get_num_threads()} thread(s)"})
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--d-model", type=int, default=300)
    ap.add_argument("--steps", type=int, default=1, help="optimisation steps per timed run")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default, as the trainer)")
    a = ap.parse_args()
    rows = run(a.repeats, a.batch_size, a.d_model, a.steps, a.threads)
    print(machine())
    print(format_table(rows))
