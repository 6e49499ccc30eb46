"""A FER2013 still -> a short face sequence, so that training sees what the app sees.

The app embeds 10-100 tracked face crops of a video and the model pools them; FER2013 gives one 48 x 48
still per sample. `still_to_sequence` makes `n` views of the still that differ the way consecutive
tracked crops of one face differ: the detector's box moves and changes scale a little (crop and
shift), the head turns a little (small rotation), the light changes (gain and gamma), and a mirrored
face is the same expression (flip). View 0 is always the untouched still, so every sequence holds the
real frame. Seeded: the same generator state gives the same views.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ViewJitter:
    """Ranges of the per-view changes (uniform draws)."""

    min_scale: float = 0.85  # side of the crop / side of the still
    max_rotation_deg: float = 8.0
    gain: tuple[float, float] = (0.75, 1.25)
    gamma: tuple[float, float] = (0.8, 1.25)
    flip_p: float = 0.5


def jitter_view(image: np.ndarray, rng: np.random.Generator, jitter: ViewJitter = ViewJitter()) -> np.ndarray:
    """image [H, W] uint8 grey -> one jittered view [H, W] uint8 (crop + shift, rotation, flip, light)."""
    import cv2

    h, w = image.shape
    s = rng.uniform(jitter.min_scale, 1.0)
    ch, cw = max(8, int(round(h * s))), max(8, int(round(w * s)))
    y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    angle = rng.uniform(-jitter.max_rotation_deg, jitter.max_rotation_deg)
    # one affine map: crop window -> full frame, rotated about the crop's centre
    m = cv2.getRotationMatrix2D((x0 + cw / 2, y0 + ch / 2), angle, w / cw)
    m[:, 2] += (w / 2 - (x0 + cw / 2), h / 2 - (y0 + ch / 2))
    out = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if rng.random() < jitter.flip_p:
        out = out[:, ::-1]
    x = out.astype(np.float32) / 255.0
    x = np.clip(rng.uniform(*jitter.gain) * x ** rng.uniform(*jitter.gamma), 0.0, 1.0)
    return np.ascontiguousarray((x * 255.0 + 0.5).astype(np.uint8))


def still_to_sequence(image: np.ndarray, n: int, rng: np.random.Generator,
                      jitter: ViewJitter = ViewJitter()) -> np.ndarray:
    """image [H, W] uint8 -> [n, H, W] uint8: the still, then n - 1 jittered views of it."""
    if n < 1:
        raise ValueError(f"a face sequence needs at least one frame, got n={n}")
    return np.stack([image] + [jitter_view(image, rng, jitter) for _ in range(n - 1)])


def stills_to_sequences(images: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """images [k, H, W] uint8 -> [k * n, H, W] uint8, each still's n frames consecutive."""
    if len(images) == 0:
        return images.reshape(0, *images.shape[1:])
    return np.concatenate([still_to_sequence(im, n, rng) for im in images])
