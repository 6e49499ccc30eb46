"""The AUMDF demo: sentiment of a clip, with text / audio / visual switched on and off live.

    python app.py [--host 127.0.0.1] [--port 7860] [--checkpoint checkpoints/default] [--share]

UI only: inference lives in aumdf.predict.Predictor. A clip is extracted once (`analyse`); the
features stay in the session's gr.State, so every later change of a control re-runs only the model
(`predict`). Nothing is loaded at import; `build_demo(predictor)` makes the page, `main` serves it.
Named API endpoints (gradio_client): /analyse, /predict, /retranscribe — see docs/app.md.
"""

from __future__ import annotations

import os

# offline by default: no usage analytics, no hub look-ups (a Space or a user may still override)
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import OrderedDict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import plotly.graph_objects as go  # noqa: E402

from aumdf.checkpoint import CheckpointError  # noqa: E402
from aumdf.predict import DEFAULT_CHECKPOINT, MAX_SECONDS, Prediction, Predictor  # noqa: E402
from aumdf.types import MODALITIES  # noqa: E402
from features.types import ClipFeatures, FeatureError  # noqa: E402

try:  # Hugging Face ZeroGPU: a GPU is attached only inside functions wrapped by spaces.GPU
    import spaces

    gpu = spaces.GPU
except ImportError:
    def gpu(fn):
        return fn

log = logging.getLogger("aumdf.app")
MAX_FILE_SIZE = "200mb"  # uploads beyond this are refused by the server before they reach our code
CONCURRENCY = 2  # model runs at once (toggles); further requests wait in the queue
EXTRACT_CONCURRENCY = 1  # clips extracted at once: the extractors hold one shared recogniser, and 2 cores gain nothing
QUEUE_SIZE = 64
MAX_FACES = 12  # face crops shown
CACHE_SIZE = 32  # model runs remembered (all sessions): flipping a switch back costs nothing
# A session's extracted clip is forgotten after an hour without a new analysis, and gradio's cached files
# (face crops, uploads) after two: gradio otherwise keeps every session's state until 10,000 sessions, and
# API clients never say they have left, so memory grew by ~35 MB per round of 8 users under load.
STATE_TTL_S = 3600
FILE_CACHE_S = (3600, 7200)  # (how often to look, age to delete)
NAMES = {"text": "text", "audio": "audio", "vision": "visual"}
COLORS = {"text": "#4c72b0", "audio": "#dd8452", "vision": "#55a868"}
USER_ERRORS = (FeatureError, CheckpointError, FileNotFoundError, ValueError)


# ------------------------------------------------------------------- figures
def _figure(data: list[dict], layout: dict) -> go.Figure:
    """A plotly Figure from plain dicts, skipping plotly's per-property validation.

    Validation costs ~15 ms a figure on a 2-core CPU — most of the 100 ms a toggle may take; these
    figures are built from fixed, known-good keys, so it buys nothing here.
    """
    return go.Figure({"data": data, "layout": layout}, _validate=False)


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
        legend=dict(title=dict(text="partner n")), annotations=[],
    )
    if not pred.gates:
        layout["annotations"].append(dict(text="this checkpoint has no DWAM (ablation)", showarrow=False, x=0.5, y=0.5,
                                          xref="paper", yref="paper"))
    return _figure(data, layout)


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


def waveform_figure(clip: ClipFeatures) -> go.Figure:
    """Waveform envelope (left axis) with F0 (right axis) and voiced frames shaded."""
    fig = go.Figure()
    ex = clip.audio.extras
    env = clip.info.envelope
    if env is not None and len(env["t"]):
        t = env["t"]
        fig.add_trace(go.Scatter(x=np.r_[t, t[::-1]], y=np.r_[env["max"], env["min"][::-1]], fill="toself",
                                 line=dict(width=0.5, color="#999"), name="waveform", hoverinfo="skip"))
    f0 = ex.f0
    ft = ex.frame_times
    if f0 is not None and ft is not None and len(f0):
        f0 = np.asarray(f0, np.float64)
        ft = np.asarray(ft, np.float64)
        fig.add_trace(go.Scatter(x=ft, y=f0, mode="lines", name="F0 (Hz)", yaxis="y2", connectgaps=False,
                                 line=dict(color=COLORS["audio"], width=2)))
        voiced = np.asarray(ex.voiced if ex.voiced is not None else np.isfinite(f0), bool)
        if voiced.any():
            fig.add_trace(go.Scatter(x=ft, y=np.where(voiced, 1.0, 0.0), mode="lines", name="voiced", yaxis="y3",
                                     line=dict(width=0, shape="hv"), fill="tozeroy", fillcolor="rgba(85,168,104,0.18)"))
    if not clip.audio.present:
        fig.add_annotation(text=f"audio missing: {clip.audio.missing_reason}", showarrow=False, xref="paper",
                           yref="paper", x=0.5, y=0.5)
    fig.update_layout(
        title="What the audio extractor heard", height=300, margin=dict(l=50, r=60, t=50, b=40),
        xaxis_title="time (s)", yaxis=dict(title="amplitude"),
        yaxis2=dict(title="F0 (Hz)", overlaying="y", side="right", rangemode="tozero"),
        yaxis3=dict(overlaying="y", range=[0, 1], visible=False), legend=dict(orientation="h", y=-0.25),
    )
    return fig


def face_gallery(clip: ClipFeatures) -> list[tuple[np.ndarray, str]]:
    """Up to MAX_FACES face crops, evenly over the clip, captioned with time and detection confidence."""
    ex = clip.vision.extras
    crops = ex.crops
    if crops is None or len(crops) == 0:
        return []
    probs = ex.probs
    times = ex.frame_times
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
        out.append((img, ", ".join(cap)))
    return out


def token_spans(clip: ClipFeatures) -> list[tuple[str, str | None]]:
    """Tokens with out-of-vocabulary words marked (HighlightedText)."""
    ex = clip.text.extras
    tokens = ex.tokens
    oov = set(ex.oov)
    if not tokens:
        return [(f"(no words: {clip.text.missing_reason})", "missing")] if not clip.text.present else []
    return [(t + " ", "out of vocabulary" if t in oov else None) for t in tokens]


def availability_markdown(pred: Prediction) -> str:
    rows = ["| modality | state | frames kept / used / extracted | why |", "|---|---|---|---|"]
    for m, s in pred.availability.items():
        state = s.state if s.state == "present" else f"**{s.state}**"
        rows.append(f"| {NAMES[m]} | {state} | {s.kept} / {s.used} / {s.frames} | {s.reason or ''} |")
    return "\n".join(rows)


def score_markdown(main: Prediction, other: Prediction | None) -> str:
    def one(p: Prediction) -> str:
        if p.score is None:
            probs = ", ".join(f"{c} {v:.2f}" for c, v in (p.probabilities or {}).items())
            return f"**{p.which}: {p.label}** ({probs})"
        return f"**{p.which}: {p.score:+.2f}** on −3…+3 — **{p.label}** (7-class: {p.bin7:+d}, {p.bin7_label})"

    lines = [one(main)]
    if other is not None:
        lines.append(one(other))
    return "\n\n".join(lines)


def user_error(e: Exception | str, upload: str | None = None, visible: bool = True) -> gr.Error:
    """A one-line message for the page and the API; the server's temporary upload path becomes the file name."""
    msg = " ".join(str(e).split())
    if upload:
        name = Path(str(upload)).name
        msg = msg.replace(str(upload), name).replace(str(Path(str(upload)).parent) + "/", "")
        if not msg.startswith(name):
            msg = f"{name}: {msg}"
    return gr.Error(msg, visible=visible, print_exception=False)


# ------------------------------------------------------------------- the page
def build_demo(predictor: Predictor, max_seconds: float | None = None) -> gr.Blocks:
    """The whole page around one loaded Predictor; no model is loaded here."""
    if max_seconds is not None:
        predictor.max_seconds = float(max_seconds)
    models = list(predictor.models)
    n_heads = predictor.checkpoints["student"].config.n_heads
    n_layers = predictor.checkpoints["student"].config.n_layers
    untrained = not predictor.checkpoints["student"].metadata.get("dataset")
    cache: OrderedDict[tuple, Prediction] = OrderedDict()
    lock = threading.Lock()

    def cached_predict(clip: ClipFeatures, mods: list[str], drop_rate: float, seed: int, which: str) -> Prediction:
        """Predictor.predict, remembered per clip and inputs (a prediction is a pure function of them)."""
        key = (clip.info.cache_key or id(clip), which, tuple(mods), round(drop_rate, 6), seed)
        with lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        pred = predictor.predict(clip, mods, drop_rate, seed, which=which)
        with lock:
            cache[key] = pred
            while len(cache) > CACHE_SIZE:
                cache.popitem(last=False)
        return pred

    def run_model(clip: ClipFeatures | None, text: bool, audio: bool, visual: bool, drop_rate: float, seed: int,
                  model: str, query: str, head: str, layer: str):
        if clip is None:
            # a switch flipped before any clip is analysed: nothing to re-run. The page stays quiet (the
            # controls simply apply to the next clip); an API caller still gets the message.
            raise user_error("Analyse a clip first: upload or record one and press Analyse.", visible=False)
        mods = [m for m, on in zip(MODALITIES, (text, audio, visual)) if on]
        if not mods:
            raise user_error("Switch on at least one modality.")
        seed = int(seed or 0)
        t0 = time.perf_counter()
        try:
            main = cached_predict(clip, mods, float(drop_rate or 0.0), seed, model)
            other_name = next((w for w in models if w != model), None)
            other = cached_predict(clip, mods, float(drop_rate or 0.0), seed, other_name) if other_name else None
        except USER_ERRORS as e:
            raise user_error(e) from None
        result = main.to_dict()
        if other is not None:
            brief = other.to_dict()
            result[other.which] = {k: brief[k] for k in ("score", "label", "bin7", "bin7_label", "probabilities")}
        query = query if query in MODALITIES else "text"
        figs = (gates_figure(main), attention_figure(main, query, head, int(layer) - 1))
        result["server_seconds"] = round(time.perf_counter() - t0, 4)
        return (result, score_markdown(main, other), *figs, availability_markdown(main))

    # explicit parameters (not *args): gradio_client documents the endpoints by these names
    @gpu
    def analyse(video: str | None, transcript: str, text: bool, audio: bool, visual: bool, drop_rate: float,
                seed: int, model: str, query: str, head: str, layer: str):
        controls = (text, audio, visual, drop_rate, seed, model, query, head, layer)
        if not video:
            raise user_error("No clip: upload a video or record one with the webcam first.")
        t0 = time.perf_counter()
        try:
            clip = predictor.extract(video, transcript=transcript or None)
        except USER_ERRORS as e:
            raise user_error(e, video) from None
        except Exception as e:  # a bug, not bad input: keep serving, log the traceback
            log.exception("extraction failed")
            raise user_error(f"could not analyse this clip ({type(e).__name__}: {e})", video) from None
        secs = time.perf_counter() - t0
        clip.info.cache_key = uuid.uuid4().hex
        words = "" if clip.text.extras.source == "transcript" else " ".join(clip.text.extras.tokens)
        model_out = run_model(clip, *controls)
        msg = f"Analysed **{Path(str(video)).name}** ({clip.duration:.1f} s) in {secs:.1f} s."
        for w in clip.info.warnings:  # e.g. a damaged stretch the decoder skipped
            msg += f"\n\n⚠ {user_error(w, video).message}"
        return (clip, words, face_gallery(clip), waveform_figure(clip), token_spans(clip), msg, *model_out)

    @gpu
    def predict(clip: ClipFeatures | None, text: bool, audio: bool, visual: bool, drop_rate: float, seed: int,
                model: str, query: str, head: str, layer: str):
        return run_model(clip, text, audio, visual, drop_rate, seed, model, query, head, layer)

    @gpu
    def retranscribe(clip: ClipFeatures | None, words: str, text: bool, audio: bool, visual: bool, drop_rate: float,
                     seed: int, model: str, query: str, head: str, layer: str):
        controls = (text, audio, visual, drop_rate, seed, model, query, head, layer)
        if clip is None:
            raise user_error("Analyse a clip first.")
        if not (words or "").strip():
            raise user_error("The words box is empty: type what was said, then press Re-score text.")
        try:
            clip = predictor.retranscribe(clip, words)
            clip.info.cache_key = uuid.uuid4().hex
        except USER_ERRORS as e:
            raise user_error(e) from None
        return (clip, token_spans(clip), *run_model(clip, *controls))

    with gr.Blocks(title="AUMDF — sentiment with missing modalities", analytics_enabled=False,
                   delete_cache=FILE_CACHE_S) as demo:
        clip_state = gr.State(None, time_to_live=STATE_TTL_S)
        gr.Markdown(
            "# AUMDF: multimodal sentiment that survives missing modalities\n"
            "Upload a short clip (or record one), press **Analyse**, then switch text, audio and visual on and "
            "off or drop frames: only the model re-runs, on the features already extracted."
        )
        if untrained:
            gr.Markdown("⚠️ The loaded checkpoint carries no training record: treat its scores as a plumbing test.",
                        elem_id="untrained")
        with gr.Tab("Demo"):
            with gr.Row():
                with gr.Column(scale=1):
                    video = gr.Video(sources=["upload", "webcam"], include_audio=True, label="Clip", elem_id="clip")
                    transcript = gr.Textbox(label="Transcript (optional)", lines=2, elem_id="transcript",
                                            placeholder="What is said in the clip; leave empty to recognise it")
                    analyse_btn = gr.Button("Analyse", variant="primary", elem_id="analyse")
                    message = gr.Markdown(f"Clips up to {predictor.max_seconds:.0f} s.", elem_id="message")
                with gr.Column(scale=1):
                    with gr.Row():
                        use_text = gr.Checkbox(True, label="text", elem_id="use-text")
                        use_audio = gr.Checkbox(True, label="audio", elem_id="use-audio")
                        use_vision = gr.Checkbox(True, label="visual", elem_id="use-visual")
                    drop = gr.Slider(0.0, 0.9, value=0.0, step=0.05, label="frame drop rate", elem_id="drop")
                    seed = gr.Number(0, precision=0, label="drop seed", elem_id="seed")
                    which = gr.Radio(models, value="student", label="model", elem_id="which")
                    score = gr.Markdown("", elem_id="score")
            with gr.Row():
                gates_plot = gr.Plot(label="DWAM gates", elem_id="gates-plot")
                with gr.Column():
                    with gr.Row():
                        query = gr.Radio([(NAMES[m], m) for m in MODALITIES], value="text", label="query modality")
                        head = gr.Dropdown(["mean"] + [str(i + 1) for i in range(n_heads)], value="mean", label="head")
                        layer = gr.Dropdown([str(i + 1) for i in range(n_layers)], value=str(n_layers),
                                            label="MMT layer", visible=n_layers > 1)
                    attention_plot = gr.Plot(label="MMT attention", elem_id="attention-plot")
            availability = gr.Markdown(elem_id="availability")
            with gr.Accordion("What the extractors saw", open=True):
                with gr.Row():
                    faces = gr.Gallery(label="face crops (detection confidence)", columns=6, height=220,
                                       elem_id="faces")
                    wave_plot = gr.Plot(label="waveform, F0 and voicing", elem_id="wave-plot")
                tokens = gr.HighlightedText(label="tokens (out-of-vocabulary words marked)",
                                            color_map={"out of vocabulary": "red", "missing": "gray"},
                                            elem_id="tokens")
                with gr.Row():
                    words = gr.Textbox(label="recognised words (edit, then Re-score text)", lines=2, elem_id="words")
                    rescore_btn = gr.Button("Re-score text", elem_id="rescore")
            result = gr.JSON(label="prediction (as the API returns it)", elem_id="result")
        with gr.Tab("Model card"):
            gr.Markdown(predictor.model_card(), elem_id="model-card")

        controls = [use_text, use_audio, use_vision, drop, seed, which, query, head, layer]
        model_outputs = [result, score, gates_plot, attention_plot, availability]
        analyse_btn.click(
            analyse, [video, transcript, *controls],
            [clip_state, words, faces, wave_plot, tokens, message, *model_outputs],
            api_name="analyse", concurrency_limit=EXTRACT_CONCURRENCY, concurrency_id="extract",
        )
        # every control re-runs only the model, on the cached features; one public endpoint (/predict).
        # trigger_mode "always_last" keeps a fast series of changes from piling up runs
        gr.on(
            [c.change for c in (use_text, use_audio, use_vision, which, query, head, layer)]
            + [drop.release, seed.submit, seed.blur],
            predict, [clip_state, *controls], model_outputs, api_name="predict", trigger_mode="always_last",
            show_progress="hidden",
        )
        rescore_btn.click(retranscribe, [clip_state, words, *controls], [clip_state, tokens, *model_outputs],
                          api_name="retranscribe", concurrency_limit=EXTRACT_CONCURRENCY, concurrency_id="extract")
    return demo


# ------------------------------------------------------------------- serving
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Serve the AUMDF demo.")
    p.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--checkpoint", default=None,
                   help=f"folder with student/ and teacher/ (default {DEFAULT_CHECKPOINT})")
    p.add_argument("--share", action="store_true", help="also open a public share link (off by default)")
    p.add_argument("--max-seconds", type=float, default=MAX_SECONDS, help="longest clip accepted")
    p.add_argument("--max-file-size", default=MAX_FILE_SIZE, help="largest upload accepted, e.g. 200mb")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    return p


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           max_file_size: str | int = MAX_FILE_SIZE, **kw: Any):
    """Queue (CONCURRENCY clips at once, QUEUE_SIZE waiting) and serve; allowed_paths stays at its default."""
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)
    return demo.launch(server_name=host, server_port=port, share=share, max_file_size=max_file_size,
                       ssr_mode=False, footer_links=["api"], **kw)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        predictor = Predictor.from_checkpoint(args.checkpoint, device=args.device, max_seconds=args.max_seconds)
        predictor.extractor  # build the extractors now: a missing vector file or network fails here, not per user
    except (CheckpointError, FeatureError, FileNotFoundError) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    launch(build_demo(predictor), args.host, args.port, share=args.share, max_file_size=args.max_file_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
