"""Vision modality: MTCNN face detection, main-face tracking, per-frame face embedding (paper §4.2.1).

The paper detects faces with MTCNN and embeds each with a facial-expression network (1024-d). Here:
- frames are sampled at `fps` by the decoder; MTCNN (facenet-pytorch, weights bundled with the
  package) runs in batches on a copy scaled to `detect_side` (faces in talking-head clips are large,
  so this costs little recall and halves the time), boxes are mapped back to the full frame;
- the main face is tracked across frames: the largest face starts the track, each next frame takes
  the face overlapping it most (IoU), and a lost track is re-acquired from the largest face;
- each tracked crop is embedded by one of three embedders:
    "fer"     this project's facial-expression CNN trained on FER2013 (`python -m train.face_expression`,
              weights under checkpoints/face_expression/), 128-d penultimate layer — the default;
    "onet"    MTCNN's own ONet 256-d penultimate layer (no training, always available);
    "facenet" InceptionResnetV1 512-d identity embedding — its weights are a download that this
              project never performs: pass a user-supplied state-dict file as `weights`.
Frames without the main face are left out of the sequence (never filled with made-up values); a clip
without any face comes back missing with the reason.

Dimension legend: n - sampled frames, f - frames with the tracked face, d - embedding size.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from pathlib import Path
from typing import Iterable, Literal

import numpy as np

from features.types import FeatureError, ModalityFeatures, VisionExtras

Embedder = Literal["fer", "onet", "facenet"]
EMBEDDERS = ("fer", "onet", "facenet")
CROP_PREVIEW = 64  # side of the small crops kept in extras for display


def _file_digest(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one box a [4] with boxes b [k, 4] (x1, y1, x2, y2)."""
    x1, y1 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    x2, y2 = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[..., 2] - r[..., 0]) * (r[..., 3] - r[..., 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter + 1e-9)


class FaceTracker:
    """Online main-face tracker: `step(boxes)` -> index of the main face among this frame's candidates.

    The largest face starts the track; each frame then takes the candidate with the highest IoU with
    the last tracked box if it reaches `min_iou`; after `patience` frames without a match the track
    restarts from the largest face. A lone candidate is taken when nothing is tracked yet or the
    track was lost.
    """

    def __init__(self, min_iou: float = 0.2, patience: int = 5) -> None:
        self.min_iou, self.patience = min_iou, patience
        self.last: np.ndarray | None = None
        self.lost = 0

    def step(self, b: np.ndarray | None) -> int | None:
        if b is None or len(b) == 0:
            self.lost += 1
            return None
        areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        pick = None
        if self.last is not None and self.lost <= self.patience:
            ious = _iou(self.last, b)
            if ious.max() >= self.min_iou:
                pick = int(ious.argmax())
        if pick is None and (self.last is None or self.lost > self.patience or len(b) == 1):
            pick = int(areas.argmax())
        if pick is None:
            self.lost += 1
        else:
            self.last, self.lost = b[pick], 0
        return pick


def track_main_face(boxes: list[np.ndarray | None], min_iou: float = 0.2, patience: int = 5) -> list[int | None]:
    """Index of the main face in each frame's candidates [k, 4] (None where it is absent); see FaceTracker."""
    tracker = FaceTracker(min_iou, patience)
    return [tracker.step(b) for b in boxes]


def square_crop(frame: np.ndarray, box: np.ndarray, margin: float, size: int) -> np.ndarray:
    """A square crop [size, size, 3] around box (x1, y1, x2, y2) enlarged by `margin`, padded at the borders."""
    import cv2

    x1, y1, x2, y2 = [float(v) for v in box]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1) * (1 + margin) / 2
    sx1, sy1, sx2, sy2 = int(round(cx - half)), int(round(cy - half)), int(round(cx + half)), int(round(cy + half))
    h, w = frame.shape[:2]
    pad = max(0, -sx1, -sy1, sx2 - w, sy2 - h)
    if pad:
        frame = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        sx1, sy1, sx2, sy2 = sx1 + pad, sy1 + pad, sx2 + pad, sy2 + pad
    crop = frame[sy1:sy2, sx1:sx2]
    interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


class VisionExtractor:
    """Frames -> one embedding per frame where the main face is visible.

    embedder: "fer" | "onet" | "facenet"; weights: file/dir for "fer" (default the shipped checkpoint)
    or the InceptionResnetV1 state dict for "facenet" (required); fps: the sampling rate the decoder
    should use (recorded in the spec); detect_side: longer side of the copy MTCNN sees;
    min_face_size: smallest face (pixels, in the detection copy); min_prob: detections below are dropped;
    threads: torch intra-op threads while the face networks run (restored afterwards; None: unchanged).
    """

    name = "vision"

    def __init__(
        self,
        embedder: Embedder = "fer",
        fps: float = 5.0,
        weights: str | Path | None = None,
        device: str = "cpu",
        detect_side: int = 320,
        min_face_size: int = 40,
        min_prob: float = 0.9,
        margin: float = 0.1,
        batch_size: int = 16,
        threads: int | None = 1,
    ) -> None:
        import torch
        from facenet_pytorch import MTCNN

        if embedder not in EMBEDDERS:
            raise FeatureError(f"unknown face embedder {embedder!r}; choose one of {EMBEDDERS}")
        if fps <= 0:
            raise FeatureError(f"fps must be positive, got {fps}")
        self.embedder, self.fps, self.device = embedder, float(fps), torch.device(device)
        self.detect_side, self.min_face_size, self.min_prob = detect_side, min_face_size, min_prob
        self.margin, self.batch_size = margin, batch_size
        # MTCNN is many small convolutions: extra intra-op threads mostly spin-wait (measured on 2 cores:
        # 1 thread 1.4 s, 2 threads 5-8 s for 50 frames under load), so the nets run single-threaded
        # by default; None leaves torch's setting alone
        self.threads = threads
        self.mtcnn = MTCNN(keep_all=True, min_face_size=min_face_size, device=self.device, select_largest=True).eval()
        self.weights_id = "bundled"
        if embedder == "fer":
            from features.face_expression import DEFAULT_DIR, WEIGHTS_NAME, load_face_expression

            self.net = load_face_expression(weights, device=self.device)
            p = Path(weights) if weights is not None else DEFAULT_DIR
            self.weights_id = _file_digest(p if p.suffix == ".safetensors" else p / WEIGHTS_NAME)
            self._dim = int(self.net.config.embed_dim)
        elif embedder == "onet":
            self.net = self.mtcnn.onet
            self._dim = int(self.net.dense5.out_features)
        else:
            self.net = self._load_facenet(weights)
            self._dim = 512
        self.net.eval()

    def _load_facenet(self, weights):
        import torch
        from facenet_pytorch import InceptionResnetV1

        if weights is None:
            raise FeatureError(
                "the 'facenet' embedder needs InceptionResnetV1 weights, which this project does not download: "
                "pass the state-dict file you have (e.g. 20180402-114759-vggface2.pt) as --face-weights, "
                "or use --face-embedder fer / onet"
            )
        p = Path(weights)
        if not p.is_file():
            raise FeatureError(f"InceptionResnetV1 weights file {p} does not exist")
        try:
            state = torch.load(str(p), map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "state_dict" in state:
                state = state["state_dict"]
            state = {k: v for k, v in state.items() if not k.startswith("logits.")}  # classifier of the training ids
            net = InceptionResnetV1(pretrained=None, classify=False)
            net.load_state_dict(state, strict=True)
        except Exception as e:
            raise FeatureError(f"could not load InceptionResnetV1 weights from {p}: {e}") from e
        self.weights_id = _file_digest(p)
        return net.to(self.device)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def extractor(self) -> str:
        return f"mtcnn+{self.embedder}"

    @property
    def spec_settings(self) -> dict:
        return {
            "embedder": self.embedder,
            "weights": self.weights_id,
            "fps": self.fps,
            "detect_side": self.detect_side,
            "min_face_size": self.min_face_size,
            "margin": self.margin,
        }

    # ---------------------------------------------------------------- detection
    def detect(self, frames: np.ndarray) -> tuple[list, list, list]:
        """MTCNN on frames [n, H, W, 3] uint8 in batches -> per frame (boxes [k,4], probs [k], landmarks [k,5,2])
        in full-frame pixels, or (None, None, None) when no face passes `min_prob`."""
        import cv2
        import torch

        n, H, W = frames.shape[:3]
        scale = min(1.0, self.detect_side / max(H, W)) if self.detect_side else 1.0
        boxes, probs, points = [], [], []
        if min(H, W) * scale < self.min_face_size:
            # smaller than the smallest face MTCNN looks for: its image pyramid would be empty
            return [None] * n, [None] * n, [None] * n
        for i in range(0, n, self.batch_size):
            batch = frames[i : i + self.batch_size]
            if scale < 1.0:
                size = (max(1, int(round(W * scale))), max(1, int(round(H * scale))))
                batch = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in batch])
            with torch.inference_mode(), self.torch_threads():
                b, p, l = self.mtcnn.detect(batch, landmarks=True)
            for bb, pp, ll in zip(b, p, l):
                if bb is None:
                    boxes.append(None), probs.append(None), points.append(None)
                    continue
                # facenet-pytorch hands back object arrays: cast before any arithmetic
                bb = np.asarray(bb, np.float32).reshape(-1, 4) / scale
                pp = np.asarray(pp, np.float32).reshape(-1)
                ll = np.asarray(ll, np.float32).reshape(-1, 5, 2) / scale
                keep = pp >= self.min_prob
                if not keep.any():
                    boxes.append(None), probs.append(None), points.append(None)
                    continue
                boxes.append(bb[keep]), probs.append(pp[keep]), points.append(ll[keep])
        return boxes, probs, points

    # ---------------------------------------------------------------- embedding
    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """Face crops (RGB uint8, any square size) -> [f, dim] float32."""
        import cv2
        import torch

        if not crops:
            return np.zeros((0, self.dim), np.float32)
        out = []
        with torch.inference_mode(), self.torch_threads():
            for i in range(0, len(crops), 64):
                chunk = crops[i : i + 64]
                if self.embedder == "fer":
                    from features.face_expression import preprocess_faces

                    x = preprocess_faces(chunk).to(self.device)
                    out.append(self.net.embed(x))
                else:
                    side = 48 if self.embedder == "onet" else 160
                    a = np.stack([cv2.resize(c, (side, side), interpolation=cv2.INTER_AREA) for c in chunk])
                    x = (torch.from_numpy(a).permute(0, 3, 1, 2).float().to(self.device) - 127.5) / 128.0
                    out.append(self._onet_features(x) if self.embedder == "onet" else self.net(x))
        return torch.cat(out).float().cpu().numpy()

    def _onet_features(self, x):
        """ONet up to its 256-d penultimate layer (prelu5), x: [f, 3, 48, 48] normalised."""
        o = self.net
        x = o.pool1(o.prelu1(o.conv1(x)))
        x = o.pool2(o.prelu2(o.conv2(x)))
        x = o.pool3(o.prelu3(o.conv3(x)))
        x = o.prelu4(o.conv4(x))
        x = x.permute(0, 3, 2, 1).contiguous()  # the layout ONet's dense5 was trained on
        return o.prelu5(o.dense5(x.view(x.shape[0], -1)))

    # ------------------------------------------------------------------ public
    def extract(self, frames: np.ndarray, times: np.ndarray) -> ModalityFeatures:
        """frames: [n, H, W, 3] uint8 RGB; times: [n] seconds.

        Returns values [f, dim] for the f frames showing the tracked face, times [f, 2] (each frame
        holds until the next sample, 1/fps). extras: crops (f small RGB uint8 previews), probs [f],
        boxes [f, 4], landmarks [f, 5, 2], frame_times [f], n_frames, face_fraction.
        """
        return self.extract_stream([(frames, times)])

    def extract_stream(self, chunks: Iterable[tuple[np.ndarray, np.ndarray]]) -> ModalityFeatures:
        """`extract` over chunks of (frames [n, H, W, 3], times [n]) — e.g. `decode.iter_video` — so a
        long video never sits in memory whole: only embeddings and small previews are kept."""
        with self.torch_threads():
            return self._extract_stream(chunks)

    @contextlib.contextmanager
    def torch_threads(self):
        """Run the face networks with `self.threads` torch threads, restoring the previous setting."""
        import torch

        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def _extract_stream(self, chunks: Iterable[tuple[np.ndarray, np.ndarray]]) -> ModalityFeatures:
        import cv2

        t0 = time.perf_counter()
        tracker = FaceTracker()
        n = 0
        vals, previews, probs, boxes, marks, ftimes = [], [], [], [], [], []
        crop_side = 160 if self.embedder == "facenet" else 96
        for frames, times in chunks:
            frames = np.asarray(frames)
            times = np.asarray(times, np.float32).reshape(-1)
            if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
                raise FeatureError(f"frames must be uint8 RGB [n, H, W, 3], got {frames.dtype} {frames.shape}")
            if len(times) != len(frames):
                raise FeatureError(f"{len(frames)} frames but {len(times)} timestamps")
            n += len(frames)
            b, p, l = self.detect(frames) if len(frames) else ([], [], [])
            crops = []
            for i in range(len(frames)):
                k = tracker.step(b[i])
                if k is None:
                    continue
                crops.append(square_crop(frames[i], b[i][k], self.margin, crop_side))
                probs.append(p[i][k]), boxes.append(b[i][k]), marks.append(l[i][k]), ftimes.append(times[i])
            if crops:
                vals.append(self.embed(crops))
                previews += [cv2.resize(c, (CROP_PREVIEW, CROP_PREVIEW), interpolation=cv2.INTER_AREA) for c in crops]
        if n == 0:
            out = ModalityFeatures.missing(self.name, self.dim, "no video frames")
        elif not vals:
            out = ModalityFeatures.missing(
                self.name, self.dim, f"no face found in {n} sampled frames", VisionExtras(n_frames=n)
            )
        else:
            ft = np.asarray(ftimes, np.float32)
            out = ModalityFeatures(
                name=self.name,
                values=np.concatenate(vals).astype(np.float32),
                times=np.stack([ft, ft + 1.0 / self.fps], 1).astype(np.float32),
                extras=VisionExtras(
                    crops=previews,
                    probs=np.asarray(probs, np.float32),
                    boxes=np.stack(boxes).astype(np.float32),
                    landmarks=np.stack(marks).astype(np.float32),
                    frame_times=ft,
                    n_frames=n,
                    face_fraction=len(ft) / n,
                ),
            )
        out.seconds = time.perf_counter() - t0
        return out
