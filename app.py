"""The AUMDF demo: sentiment of a clip, with text / audio / visual switched on and off live.

    python app.py [--host 127.0.0.1] [--port 7860] [--checkpoint checkpoints/default] [--share]

UI only: inference lives in aumdf.predictor.Predictor, figures in app_figures, the browser's files
(previews, face crops) in app_media. A clip is extracted once (`analyse`); the features stay in the
session's gr.State, so every later change of a control re-runs only the model (`predict`), with
the Shapley contribution of each modality from the same forward pass. Nothing is loaded at import;
`build_demo(predictor)` lays out the page, the handlers are the module's functions, `main` serves it.
Named API endpoints (gradio_client): /analyse, /predict, /retranscribe, /preview — see docs/app.md.
"""

from __future__ import annotations

import os

# offline by default: no usage analytics, no hub look-ups (a Space or a user may still override)
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse  # noqa: E402
import inspect  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import OrderedDict  # noqa: E402
from dataclasses import dataclass, field, fields, replace  # noqa: E402
from functools import partial, wraps  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import gradio as gr  # noqa: E402

import app_figures as fig  # noqa: E402
import app_media  # noqa: E402
from aumdf.checkpoint import CheckpointError  # noqa: E402
from aumdf.predictor import (  # noqa: E402
    BRIEF, DEFAULT_CHECKPOINT, MAX_SECONDS, Prediction, Predictor, SubsetRun, resolve_checkpoints,
)
from aumdf.types import MODALITIES  # noqa: E402
from features.types import ClipFeatures, FeatureError  # noqa: E402

try:  # Hugging Face ZeroGPU: a GPU is attached only inside functions wrapped by spaces.GPU
    import spaces

    gpu = spaces.GPU
except ImportError:
    def gpu(fn):
        return fn

log = logging.getLogger("aumdf.app")
ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "examples"
MAX_FILE_SIZE = "200mb"  # uploads beyond this are refused by the server before they reach our code
CONCURRENCY = 2  # model runs at once (toggles); further requests wait in the queue
EXTRACT_CONCURRENCY = 1  # clips extracted at once: the extractors hold one shared recogniser, and 2 cores gain nothing
QUEUE_SIZE = 64
CACHE_SIZE = 24  # model runs remembered (all sessions; ~5 MB each with their attention maps)
# A session's extracted clip is forgotten after an hour without a new analysis, and gradio's cached files
# (face crops, uploads) after two: gradio otherwise keeps every session's state until 10,000 sessions, and
# API clients never say they have left, so memory grew by ~35 MB per round of 8 users under load.
STATE_TTL_S = 3600
FILE_CACHE_S = (3600, 7200)  # (how often to look, age to delete)
USER_ERRORS = (FeatureError, CheckpointError, FileNotFoundError, ValueError)


@dataclass(frozen=True)
class Controls:
    """Everything on the page that changes a model run (but not the clip)."""

    text: bool = True
    audio: bool = True
    visual: bool = True
    drop_rate: float = 0.0
    seed: int = 0
    model: str = "student"
    query: str = "text"  # attention view: query modality, head ("mean" or "1"...), layer ("1"...)
    head: str = "mean"
    layer: str = "1"

    def __post_init__(self) -> None:  # gradio_client may send None or strings; normalise once here
        object.__setattr__(self, "drop_rate", float(self.drop_rate or 0.0))
        object.__setattr__(self, "seed", int(self.seed or 0))
        object.__setattr__(self, "query", self.query if self.query in MODALITIES else "text")

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(m for m, on in zip(MODALITIES, (self.text, self.audio, self.visual)) if on)


@dataclass(frozen=True)
class AnalysedClip:
    """A session's extracted clip (kept in gr.State): features, the key of its cached runs, its waveform."""

    features: ClipFeatures
    key: str
    name: str
    envelope: dict | None = None


class RunCache:
    """The last `size` model runs of all sessions, keyed by (clip key, model, drop rate, seed).

    A run covers the 8 modality subsets (Predictor.run_subsets), so flipping the modality switches
    never runs the model again; only a new drop rate, seed or model does.
    """

    def __init__(self, size: int = CACHE_SIZE):
        self.size, self._runs, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, key: tuple, run: Callable[[], SubsetRun]) -> SubsetRun:
        with self._lock:
            if key in self._runs:
                self._runs.move_to_end(key)
                return self._runs[key]
        value = run()  # outside the lock: two sessions' runs may overlap
        with self._lock:
            self._runs[key] = value
            while len(self._runs) > self.size:
                self._runs.popitem(last=False)
        return value


CACHE = RunCache()


def user_error(e: Exception | str, upload: str | None = None, visible: bool = True) -> gr.Error:
    """A one-line message for the page and the API; the server's temporary upload path becomes the file name."""
    msg = " ".join(str(e).split())
    if upload:
        name = Path(str(upload)).name
        msg = msg.replace(str(upload), name).replace(str(Path(str(upload)).parent) + "/", "")
        if not msg.startswith(name):
            msg = f"{name}: {msg}"
    return gr.Error(msg, visible=visible, print_exception=False)


# ------------------------------------------------------------------ handlers
def run_model(predictor: Predictor, clip: AnalysedClip | None, c: Controls) -> tuple:
    """Both models on the cached features -> (result dict, score text, contributions, gates, attention, table)."""
    if clip is None:
        # a switch flipped before any clip is analysed: nothing to re-run. The page stays quiet (the
        # controls simply apply to the next clip); an API caller still gets the message.
        raise user_error("Analyse a clip first: upload or record one and press Analyse.", visible=False)
    if not c.modalities:
        raise user_error("Switch on at least one modality.")
    t0 = time.perf_counter()

    def one(which: str) -> Prediction:
        key = (clip.key, which, round(c.drop_rate, 6), c.seed)
        run = CACHE.get(key, lambda: predictor.run_subsets(clip.features, c.drop_rate, c.seed, which))
        return predictor.select(clip.features, run, c.modalities)

    try:
        main = one(c.model)
        other_name = next((w for w in predictor.models if w != c.model), None)
        other = one(other_name) if other_name else None
    except USER_ERRORS as e:
        raise user_error(e) from None
    result = main.to_dict()
    if other is not None:
        brief = other.to_dict()
        result[other.which] = {k: brief[k] for k in BRIEF}
    figs = (fig.contributions_figure(main, predictor.checkpoints[main.which].trained_subsets), fig.gates_figure(main),
            fig.attention_figure(main, c.query, c.head, int(c.layer) - 1))
    result["server_seconds"] = round(time.perf_counter() - t0, 4)
    return (result, fig.score_markdown(main, other), *figs, fig.availability_markdown(main))


def make_preview(predictor: Predictor, video: str | None) -> str | None:
    """A file the browser plays for the chosen clip (the upload itself, or an H.264/AAC copy); None if unreadable."""
    if not video:
        return None
    try:
        return str(app_media.preview(video, predictor.max_seconds))
    except Exception as e:  # the preview is a courtesy: Analyse still reports what is wrong with the file
        log.info("no preview for %s: %s", Path(str(video)).name, e)
        return None


def extract(predictor: Predictor, video: str, transcript: str, progress: gr.Progress) -> AnalysedClip:
    """Decode and extract one upload, reporting the extractor's stages to the page."""
    def stage(name: str, fraction: float) -> None:
        progress(fraction, desc=name)

    try:
        clip = predictor.extract(video, transcript=transcript or None, on_stage=stage)
    except USER_ERRORS as e:
        raise user_error(e, video) from None
    except Exception as e:  # a bug, not bad input: keep serving, log the traceback
        log.exception("extraction failed")
        raise user_error(f"could not analyse this clip ({type(e).__name__}: {e})", video) from None
    envelope = fig.waveform_envelope(video) if clip.audio.present else None
    app_media.prune(FILE_CACHE_S[1])  # the app's own previews and face crops, as gradio ages its cache
    return AnalysedClip(clip, uuid.uuid4().hex, Path(str(video)).name, envelope)


def endpoint(*leading: str, progress: bool = False) -> Callable:
    """Make `fn(predictor, *leading inputs, controls: Controls[, progress])` a gradio handler whose
    parameters are `predictor`, the leading inputs, then each Controls field by name (what gradio_client
    documents as the endpoint's parameters), and `progress` when asked for. The controls are listed
    once, in Controls."""
    P = inspect.Parameter
    names = [f.name for f in fields(Controls) if f.init]

    def wrap(fn: Callable) -> Callable:
        @wraps(fn)
        def handler(predictor: Predictor, *args: Any, **kw: Any):
            extra = {"progress": args[-1]} if progress and len(args) > len(leading) + len(names) else {}
            args = args[: len(leading) + len(names)]
            k = len(leading)
            return fn(predictor, *args[:k], Controls(*args[k:]), **extra, **kw)

        params = [P(n, P.POSITIONAL_OR_KEYWORD) for n in ("predictor", *leading, *names)]
        if progress:
            params.append(P("progress", P.POSITIONAL_OR_KEYWORD, default=gr.Progress()))
        handler.__signature__ = inspect.Signature(params)
        del handler.__wrapped__  # gradio reads the signature above, not fn's
        return handler
    return wrap


@gpu
@endpoint("video", "transcript", progress=True)
def analyse(predictor: Predictor, video: str | None, transcript: str, c: Controls,
            progress: gr.Progress = gr.Progress()):
    """Upload -> features (cached in the session) -> both models."""
    if not video:
        raise user_error("No clip: upload a video or record one with the webcam first.")
    t0 = time.perf_counter()
    clip = extract(predictor, video, transcript, progress)
    secs = time.perf_counter() - t0
    progress(0.95, desc="model")
    model_out = run_model(predictor, clip, c)
    f = clip.features
    msg = f"Analysed **{clip.name}** ({f.duration:.1f} s) in {secs:.1f} s."
    for w in f.info.warnings:  # e.g. a damaged stretch the decoder skipped
        msg += f"\n\n⚠ {user_error(w, video).message}"
    words = model_out[0].get("transcript") or ""
    return (clip, words, fig.face_gallery(f), fig.waveform_figure(f, clip.envelope), fig.token_spans(f), msg,
            *model_out)


@gpu
@endpoint("clip")
def predict(predictor: Predictor, clip: AnalysedClip | None, c: Controls):
    """A control changed: re-run only the model on the session's cached features."""
    return run_model(predictor, clip, c)


@gpu
@endpoint("clip", "words")
def retranscribe(predictor: Predictor, clip: AnalysedClip | None, words: str, c: Controls):
    """The user edited the recognised words: rebuild the text features and re-run the model."""
    if clip is None:
        raise user_error("Analyse a clip first.")
    if not (words or "").strip():
        raise user_error("The words box is empty: type what was said, then press Re-score text.")
    try:
        clip = replace(clip, features=predictor.retranscribe(clip.features, words), key=uuid.uuid4().hex)
    except USER_ERRORS as e:
        raise user_error(e) from None
    return (clip, fig.token_spans(clip.features), *run_model(predictor, clip, c))


def use_recording(recording: str | None) -> str | None:
    """A webcam recording becomes the clip to analyse."""
    return recording or None


# ------------------------------------------------------------------- the page
def example_rows() -> list[list[str]]:
    """The clips in examples/ (see examples/README.md for their sources and licences), with an empty transcript."""
    names = ("jfk.wav", "grid_lbax4n.mpg", "cremad_1001_DFA_FEA_XX.flv")
    return [[str(EXAMPLES / n), ""] for n in names if (EXAMPLES / n).is_file()]


@dataclass
class Page:
    """The page's components that the events read or write."""

    clip_state: Any = None
    video: Any = None
    webcam: Any = None
    preview: Any = None
    transcript: Any = None
    analyse_btn: Any = None
    message: Any = None
    controls: list = field(default_factory=list)  # Controls' fields, in order
    score: Any = None
    contrib_plot: Any = None
    gates_plot: Any = None
    attention_plot: Any = None
    availability: Any = None
    faces: Any = None
    wave_plot: Any = None
    tokens: Any = None
    words: Any = None
    rescore_btn: Any = None
    result: Any = None

    @property
    def model_outputs(self) -> list:
        return [self.result, self.score, self.contrib_plot, self.gates_plot, self.attention_plot, self.availability]


def _input_column(page: Page, predictor: Predictor) -> None:
    page.video = gr.File(label="Clip (video or audio file)", file_count="single", type="filepath",
                         elem_id="clip", height=90)
    with gr.Accordion("or record with the webcam and microphone", open=False):
        # not mirrored: gradio flips a mirrored recording with the ffmpeg program, which the app does not need
        page.webcam = gr.Video(sources=["webcam"], include_audio=True, label="Recording", elem_id="webcam",
                               webcam_options=gr.WebcamOptions(mirror=False))
    page.preview = gr.Video(label="Preview", interactive=False, elem_id="preview", height=240)
    page.transcript = gr.Textbox(label="Transcript (optional)", lines=2, elem_id="transcript",
                                 placeholder="What is said in the clip; leave empty to recognise it")
    page.analyse_btn = gr.Button("Analyse", variant="primary", elem_id="analyse")
    page.message = gr.Markdown(f"Clips up to {predictor.max_seconds:.0f} s.", elem_id="message")
    rows = example_rows()
    if rows:
        gr.Examples(rows, [page.video, page.transcript], label="Examples (see examples/README.md)",
                    elem_id="examples")


def _control_column(page: Page, predictor: Predictor) -> list:
    """The switches, drop rate, seed and model; returns the attention view's controls' slots to fill."""
    with gr.Row():
        use_text = gr.Checkbox(True, label="text", elem_id="use-text")
        use_audio = gr.Checkbox(True, label="audio", elem_id="use-audio")
        use_vision = gr.Checkbox(True, label="visual", elem_id="use-visual")
    drop = gr.Slider(0.0, 0.9, value=0.0, step=0.05, label="frame drop rate", elem_id="drop")
    # sliders and radios rather than a number box and dropdowns: fewer component types for the page to load
    seed = gr.Slider(0, 99, value=0, step=1, label="drop seed", elem_id="seed")
    which = gr.Radio(list(predictor.models), value="student", label="model", elem_id="which")
    page.score = gr.Markdown("", elem_id="score")
    page.contrib_plot = gr.Plot(label="modality contributions (Shapley)", elem_id="contributions-plot")
    return [use_text, use_audio, use_vision, drop, seed, which]


def _model_views(page: Page, predictor: Predictor) -> list:
    """Gates and attention (with the attention view's controls); returns those controls."""
    cfg = predictor.checkpoints["student"].config
    with gr.Row():
        page.gates_plot = gr.Plot(label="DWAM gates", elem_id="gates-plot")
        with gr.Column():
            with gr.Row():
                query = gr.Radio([(fig.NAMES[m], m) for m in MODALITIES], value="text", label="query modality")
                head = gr.Radio(["mean"] + [str(i + 1) for i in range(cfg.n_heads)], value="mean", label="head")
                layer = gr.Radio([str(i + 1) for i in range(cfg.n_layers)], value=str(cfg.n_layers),
                                    label="MMT layer", visible=cfg.n_layers > 1)
            page.attention_plot = gr.Plot(label="MMT attention", elem_id="attention-plot")
    page.availability = gr.Markdown(elem_id="availability")
    return [query, head, layer]


def _extractor_views(page: Page) -> None:
    with gr.Accordion("What the extractors saw", open=True):
        with gr.Row():
            page.faces = gr.Gallery(label="face crops (detection confidence)", columns=6, height=220, elem_id="faces")
            page.wave_plot = gr.Plot(label="waveform, F0 and voicing", elem_id="wave-plot")
        page.tokens = gr.HighlightedText(label="tokens (out-of-vocabulary words marked)",
                                         color_map={"out of vocabulary": "red", "missing": "gray"}, elem_id="tokens")
        with gr.Row():
            page.words = gr.Textbox(label="recognised words (edit, then Re-score text)", lines=2, elem_id="words")
            page.rescore_btn = gr.Button("Re-score text", elem_id="rescore")
    page.result = gr.JSON(label="prediction (as the API returns it)", elem_id="result")


def _wire(page: Page, predictor: Predictor) -> None:
    """The events: preview on a new clip, analyse, re-run the model on any control, re-score edited words."""
    p, controls, outs = page, page.controls, page.model_outputs
    p.video.change(partial(make_preview, predictor), p.video, p.preview, api_name="preview",
                   concurrency_id="preview", concurrency_limit=CONCURRENCY, show_progress="minimal")
    p.webcam.change(use_recording, p.webcam, p.video, api_name=False, show_progress="hidden")
    p.analyse_btn.click(
        partial(analyse, predictor), [p.video, p.transcript, *controls],
        [p.clip_state, p.words, p.faces, p.wave_plot, p.tokens, p.message, *outs],
        api_name="analyse", concurrency_limit=EXTRACT_CONCURRENCY, concurrency_id="extract",
        show_progress_on=[p.message],  # the progress bar covers the message only: the controls stay usable
    )
    # every control re-runs only the model, on the cached features; one public endpoint (/predict).
    # trigger_mode "always_last" keeps a fast series of changes from piling up runs
    use_text, use_audio, use_vision, drop, seed, which, query, head, layer = controls
    gr.on([c.change for c in (use_text, use_audio, use_vision, which, query, head, layer)]
          + [drop.release, seed.release],
          partial(predict, predictor), [p.clip_state, *controls], outs, api_name="predict",
          trigger_mode="always_last", show_progress="hidden")
    p.rescore_btn.click(partial(retranscribe, predictor), [p.clip_state, p.words, *controls],
                        [p.clip_state, p.tokens, *outs], api_name="retranscribe",
                        concurrency_limit=EXTRACT_CONCURRENCY, concurrency_id="extract")


def build_demo(predictor: Predictor, max_seconds: float | None = None) -> gr.Blocks:
    """The whole page around one loaded Predictor; no model is loaded here."""
    if max_seconds is not None:
        predictor.max_seconds = float(max_seconds)
    untrained = not predictor.checkpoints["student"].metadata.get("dataset")
    page = Page()
    with gr.Blocks(title="AUMDF — sentiment with missing modalities", analytics_enabled=False,
                   delete_cache=FILE_CACHE_S) as demo:
        page.clip_state = gr.State(None, time_to_live=STATE_TTL_S)
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
                    _input_column(page, predictor)
                with gr.Column(scale=1):
                    page.controls = _control_column(page, predictor)
            page.controls += _model_views(page, predictor)
            _extractor_views(page)
        with gr.Tab("Model card"):
            gr.Markdown(fig.model_card_markdown(predictor), elem_id="model-card")
        _wire(page, predictor)
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


def blocked_paths(predictor: Predictor | None = None) -> list[str]:
    """Folders the server never serves, whatever a request names: the checkpoints, the project's data and
    sources, and the shared data folder beside the project."""
    paths = [ROOT / "checkpoints", ROOT / "data", ROOT / ".git", ROOT.parent / "shared"]
    if os.environ.get("AUMDF_SHARED"):
        paths.append(Path(os.environ["AUMDF_SHARED"]))
    ck = predictor.checkpoints["student"].path if predictor is not None else None
    if ck is not None:
        paths.append(ck.parent if ck.name == "student" else ck)
    return sorted({str(p.resolve()) for p in paths})


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           max_file_size: str | int = MAX_FILE_SIZE, predictor: Predictor | None = None, **kw: Any):
    """Queue (CONCURRENCY model runs at once, QUEUE_SIZE waiting) and serve only the app's own files."""
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=CONCURRENCY)
    return demo.launch(server_name=host, server_port=port, share=share, max_file_size=max_file_size,
                       ssr_mode=False, footer_links=["api"], allowed_paths=[],
                       blocked_paths=blocked_paths(predictor), **kw)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        resolve_checkpoints(args.checkpoint)
        predictor = Predictor.from_checkpoint(args.checkpoint, device=args.device, max_seconds=args.max_seconds)
        predictor.extractor  # build the extractors now: a missing vector file or network fails here, not per user
    except (CheckpointError, FeatureError, FileNotFoundError) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    launch(build_demo(predictor), args.host, args.port, share=args.share, max_file_size=args.max_file_size,
           predictor=predictor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
