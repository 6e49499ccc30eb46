"""What the demo draws and writes on the page: plotly figures, the face gallery, markdown.

Presentation only: each function turns a `Prediction` or `ClipFeatures` into something a gradio
component shows. Figures are built from plain dicts without plotly's per-property validation
(~15 ms a figure on a 2-core CPU, most of a toggle's 100 ms budget); their keys are fixed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from aumdf.predictor import Prediction, Predictor
from aumdf.rprm import subset_name
from aumdf.types import MODALITIES
from app_media import save_image
from features.types import ClipFeatures, FeatureError

NAMES = {"text": "text", "audio": "audio", "vision": "visual"}
COLORS = {"text": "#4c72b0", "audio": "#dd8452", "vision": "#55a868"}
MAX_FACES = 12  # face crops shown
ENVELOPE_COLUMNS = 2000


def _figure(data: list[dict], layout: dict) -> go.Figure:
    """A plotly Figure from plain dicts, skipping plotly's validation (see the module docstring)."""
    return go.Figure({"data": data, "layout": layout}, _validate=False)


def _note(text: str) -> dict:
    return dict(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")


def gates_figure(pred: Prediction) -> go.Figure:
    """Grouped bars: for each modality m, the mean DWAM gate g_mn towards each partner n."""
    data = []
    for n in MODALITIES:
        ms = [m for m in MODALITIES if m != n]
        data.append(dict(type="bar", x=[NAMES[m] for m in ms], y=[pred.gates.get(f"{m}>{n}", 0.0) for m in ms],
                         name=f"with {NAMES[n]}", marker=dict(color=COLORS[n])))
    layout = dict(
        barmode="group", title=dict(text=f"DWAM gates ({pred.which})"), height=320,
        xaxis=dict(title=dict(text="modality m"), categoryorder="array", categoryarray=[NAMES[m] for m in MODALITIES]),
        yaxis=dict(title=dict(text="mean gate g_mn")), margin=dict(l=50, r=20, t=50, b=40),
        legend=dict(title=dict(text="partner n")),
        annotations=[] if pred.gates else [_note("this checkpoint has no DWAM (ablation)")],
    )
    return _figure(data, layout)


def contributions_figure(pred: Prediction, trained_subsets: Sequence[str] | None = None) -> go.Figure:
    """Waterfall: the baseline (no modality), each modality's Shapley value, the score they add up to."""
    c = pred.contributions
    if c is None:
        return _figure([], dict(height=260, annotations=[_note("no contributions")]))
    names = [NAMES[m] for m in MODALITIES]
    y = [c.baseline] + [c.phi[m] for m in MODALITIES] + [c.score]
    text = [f"{c.baseline:+.3f}"] + [f"{c.phi[m]:+.3f}" for m in MODALITIES] + [f"{c.score:+.3f}"]
    off = [m for m in MODALITIES if pred.availability[m].state != "present"]
    data = [dict(
        type="waterfall", orientation="v", x=["baseline"] + names + [c.value], y=y, text=text,
        textposition="auto", cliponaxis=False, measure=["absolute", "relative", "relative", "relative", "total"],
        increasing=dict(marker=dict(color="#55a868")), decreasing=dict(marker=dict(color="#c44e52")),
        totals=dict(marker=dict(color="#4c72b0")), connector=dict(line=dict(color="#999", width=1)),
        hovertemplate="%{x}: %{text}<extra></extra>",
    )]
    title = f"Which modality drove the {c.value} (Shapley, {pred.which})"
    if pred.which == "teacher":  # the student learns every subset (RPRM); the teacher only those it was trained on
        title += " — " + teacher_caveat(trained_subsets)
    if off:
        title += " — " + ", ".join(f"{NAMES[m]} {pred.availability[m].state}" for m in off) + ": 0"
    layout = dict(title=dict(text=title, font=dict(size=13)), height=300, showlegend=False,
                  margin=dict(l=50, r=20, t=60, b=40), yaxis=dict(title=dict(text=c.value), automargin=True))
    return _figure(data, layout)


def teacher_caveat(trained_subsets: Sequence[str] | None) -> str:
    """What the teacher's Shapley values are worth: it learnt only the modality subsets of its training samples
    (a checkpoint's `trained_subsets`; None: a teacher that does not say, trained on complete inputs)."""
    if not trained_subsets or set(trained_subsets) == {subset_name(MODALITIES)}:
        return "the teacher never saw missing modalities in training: a rough guide"
    return (f"the teacher learnt only {', '.join(trained_subsets)}, without frame loss: "
            "a rough guide for other subsets")


def attention_figure(pred: Prediction, query: str, head: str, layer: int = -1) -> go.Figure:
    """Two heatmaps: query modality frames (rows) against each key modality's frames (columns), on time axes."""
    a = pred.attention[query][layer]  # h t_q s
    z = a.mean(axis=0) if head == "mean" else a[int(head) - 1]  # t_q s
    n, k = pred.key_modalities[query]
    status = pred.availability
    t_n = status[n].used
    unit = {m: "s" if status[m].time_unit == "s" else "frame" for m in MODALITIES}
    y = pred.query_times[query]
    data, notes = [], []
    parts = ((n, z[:, :t_n], pred.key_times[query][:t_n]), (k, z[:, t_n:], pred.key_times[query][t_n:]))
    for i, (m, zz, x) in enumerate(parts):
        ax = "" if i == 0 else "2"
        if zz.size and status[m].kept:
            data.append(dict(
                type="heatmap", z=np.ascontiguousarray(zz, np.float32), x=x, y=y, coloraxis="coloraxis",
                xaxis=f"x{ax}", yaxis=f"y{ax}",
                hovertemplate=f"{NAMES[query]} %{{y:.2f}} → {NAMES[m]} %{{x:.2f}}: %{{z:.3f}}<extra></extra>",
            ))
        else:  # an empty trace keeps the panel's axes drawn around the note
            data.append(dict(type="scatter", x=[None], y=[None], xaxis=f"x{ax}", yaxis=f"y{ax}", showlegend=False,
                             hoverinfo="skip"))
            notes.append(dict(text=f"{NAMES[m]}: {status[m].state}", showarrow=False, xref=f"x{ax} domain",
                              yref=f"y{ax} domain", x=0.5, y=0.5))
    title = f"MMT attention ({pred.which}): {NAMES[query]} queries, head {head}"
    if status[query].state != "present":
        title += f" — {NAMES[query]} is {status[query].state}; the model does not use these rows"
    layout = dict(
        title=dict(text=title), height=380, margin=dict(l=60, r=20, t=60, b=50),
        coloraxis=dict(colorscale="Viridis"), annotations=notes,
        xaxis=dict(domain=[0, 0.46], anchor="y", title=dict(text=f"{NAMES[n]} key ({unit[n]})")),
        xaxis2=dict(domain=[0.54, 1.0], anchor="y2", title=dict(text=f"{NAMES[k]} key ({unit[k]})")),
        yaxis=dict(title=dict(text=f"{NAMES[query]} query ({unit[query]})"), autorange="reversed"),
        yaxis2=dict(anchor="x2", matches="y", showticklabels=False, autorange="reversed"),
    )
    return _figure(data, layout)


def waveform_envelope(path: str | Path, columns: int = ENVELOPE_COLUMNS, sr: int = 16000) -> dict | None:
    """Min/max envelope of the clip's audio in `columns` bins: {"t", "min", "max"} arrays; None without audio."""
    from features.decode import decode_audio

    try:
        y, sr = decode_audio(path, sr=sr)
    except FeatureError:
        return None
    if len(y) == 0:
        return None
    bins = max(1, len(y) // columns)
    n = len(y) // bins * bins
    yy = np.asarray(y[:n], np.float32).reshape(-1, bins)
    t = ((np.arange(yy.shape[0]) * bins + bins / 2) / sr).astype(np.float32)
    return {"t": t, "min": yy.min(1), "max": yy.max(1)}


def waveform_figure(clip: ClipFeatures, envelope: dict | None) -> go.Figure:
    """Waveform envelope (left axis) with F0 (right axis) and voiced frames shaded."""
    data, ex = [], clip.audio.extras
    if envelope is not None and len(envelope["t"]):
        t = envelope["t"]
        data.append(dict(type="scatter", x=np.r_[t, t[::-1]], y=np.r_[envelope["max"], envelope["min"][::-1]],
                         fill="toself", line=dict(width=0.5, color="#999"), name="waveform", hoverinfo="skip"))
    f0, ft = ex.f0, ex.frame_times
    if f0 is not None and ft is not None and len(f0):
        f0, ft = np.asarray(f0, np.float64), np.asarray(ft, np.float64)
        data.append(dict(type="scatter", x=ft, y=f0, mode="lines", name="F0 (Hz)", yaxis="y2", connectgaps=False,
                         line=dict(color=COLORS["audio"], width=2)))
        voiced = np.asarray(ex.voiced if ex.voiced is not None else np.isfinite(f0), bool)
        if voiced.any():
            data.append(dict(type="scatter", x=ft, y=np.where(voiced, 1.0, 0.0), mode="lines", name="voiced",
                             yaxis="y3", line=dict(width=0, shape="hv"), fill="tozeroy",
                             fillcolor="rgba(85,168,104,0.18)"))
    layout = dict(
        title=dict(text="What the audio extractor heard"), height=300, margin=dict(l=50, r=60, t=50, b=40),
        xaxis=dict(title=dict(text="time (s)")), yaxis=dict(title=dict(text="amplitude")),
        yaxis2=dict(title=dict(text="F0 (Hz)"), overlaying="y", side="right", rangemode="tozero"),
        yaxis3=dict(overlaying="y", range=[0, 1], visible=False), legend=dict(orientation="h", y=-0.25),
        annotations=[] if clip.audio.present else [_note(f"audio missing: {clip.audio.missing_reason}")],
    )
    return _figure(data, layout)


def face_gallery(clip: ClipFeatures) -> list[tuple[str, str]]:
    """Up to MAX_FACES face crops, evenly over the clip, as (PNG path, caption with time and confidence).

    The PNGs are the app's own, content-addressed and written atomically (app_media.save_image).
    """
    ex = clip.vision.extras
    crops = ex.crops
    if crops is None or len(crops) == 0:
        return []
    probs, times = ex.probs, ex.frame_times
    if times is None and len(clip.vision.times) == len(crops):
        times = np.asarray(clip.vision.times).mean(axis=1)
    idx = np.unique(np.linspace(0, len(crops) - 1, min(MAX_FACES, len(crops))).round().astype(int))
    out = []
    for i in idx:
        cap = []
        if times is not None:
            cap.append(f"{float(times[i]):.2f} s")
        if probs is not None:
            cap.append(f"p = {float(probs[i]):.3f}")
        img = np.asarray(crops[i])
        if img.dtype != np.uint8:
            img = (np.clip(img, 0, 1) * 255).astype(np.uint8) if img.max() <= 1.0 else img.astype(np.uint8)
        out.append((str(save_image(img)), ", ".join(cap)))
    return out


def token_spans(clip: ClipFeatures) -> list[tuple[str, str | None]]:
    """Tokens with out-of-vocabulary words marked (HighlightedText)."""
    ex = clip.text.extras
    tokens = ex.tokens or []
    oov = set(ex.oov or [])
    if not tokens:
        return [(f"(no words: {clip.text.missing_reason})", "missing")] if not clip.text.present else []
    return [(t + " ", "out of vocabulary" if t in oov else None) for t in tokens]


def availability_markdown(pred: Prediction) -> str:
    phi = pred.contributions.phi if pred.contributions is not None else {}
    rows = ["| modality | state | frames kept / used / extracted | contribution | why |", "|---|---|---|---|---|"]
    for m, s in pred.availability.items():
        state = s.state if s.state == "present" else f"**{s.state}**"
        share = f"{phi[m]:+.3f}" if m in phi else ""
        rows.append(f"| {NAMES[m]} | {state} | {s.kept} / {s.used} / {s.frames} | {share} | {s.reason or ''} |")
    return "\n".join(rows)


def score_markdown(main: Prediction, other: Prediction | None) -> str:
    def one(p: Prediction) -> str:
        if p.score is None:
            probs = ", ".join(f"{c} {v:.2f}" for c, v in (p.probabilities or {}).items())
            return f"**{p.which}: {p.label}** ({probs})"
        return f"**{p.which}: {p.score:+.2f}** on −3…+3 — **{p.label}** (7-class: {p.bin7:+d}, {p.bin7_label})"

    lines = [one(main)]
    c = main.contributions
    if c is not None:
        parts = " ".join(f"{NAMES[m]} {c.phi[m]:+.2f}" for m in MODALITIES)
        lines.append(f"= baseline {c.baseline:+.2f} + {parts}")
    if other is not None:
        lines.append(one(other))
    return "\n\n".join(lines)


def model_card_markdown(predictor: Predictor) -> str:
    """The checkpoint folder's MODEL_CARD.md (written by `python -m train.demo.model_card`), else where to get one."""
    card = predictor.card_file()
    if card is not None:
        return card.read_text(encoding="utf-8")
    where = predictor.checkpoints["student"].path
    return (f"This checkpoint (`{where}`) has no MODEL_CARD.md. Evaluate it and write one with "
            "`python -m train.evaluate` and `python -m train.demo.model_card` (docs/demo_corpus.md).")
