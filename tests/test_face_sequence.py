"""A FER still -> a short jittered face sequence (train.demo.face_sequence), and the corpus built with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from train.demo.face_sequence import ViewJitter, jitter_view, still_to_sequence, stills_to_sequences


def face(seed: int = 0) -> np.ndarray:
    """A 48 x 48 grey 'face': a bright oval with two dark eyes, one mouth corner higher (asymmetric)."""
    yy, xx = np.mgrid[:48, :48]
    img = np.where(((yy - 24) / 20) ** 2 + ((xx - 24) / 16) ** 2 < 1, 180, 40).astype(np.float32)
    img[16:20, 14:19] = img[16:20, 29:34] = 20
    img[33:35, 16:34] = 30
    img[30:33, 30:34] = 30
    noise = np.random.default_rng(seed).normal(0, 3, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def test_sequence_starts_with_the_still_and_views_differ():
    im = face()
    seq = still_to_sequence(im, 5, np.random.default_rng(0))
    assert seq.shape == (5, 48, 48) and seq.dtype == np.uint8
    np.testing.assert_array_equal(seq[0], im)
    diffs = [np.abs(seq[k].astype(int) - im).mean() for k in range(1, 5)]
    assert all(d > 1.0 for d in diffs)  # every view changed
    assert len({seq[k].tobytes() for k in range(5)}) == 5


def test_views_are_seeded():
    im = face()
    a = stills_to_sequences(np.stack([im, face(1)]), 3, np.random.default_rng(7))
    b = stills_to_sequences(np.stack([im, face(1)]), 3, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (6, 48, 48)
    np.testing.assert_array_equal(a[3], face(1))  # each still's frames are consecutive, still first


def test_no_jitter_is_the_identity_and_flip_mirrors():
    im = face()
    still = ViewJitter(min_scale=1.0, max_rotation_deg=0.0, gain=(1.0, 1.0), gamma=(1.0, 1.0), flip_p=0.0)
    np.testing.assert_array_equal(jitter_view(im, np.random.default_rng(0), still), im)
    flip = ViewJitter(min_scale=1.0, max_rotation_deg=0.0, gain=(1.0, 1.0), gamma=(1.0, 1.0), flip_p=1.0)
    np.testing.assert_array_equal(jitter_view(im, np.random.default_rng(0), flip), im[:, ::-1])


def test_light_changes_keep_the_face_recognisable():
    im = face()
    seq = still_to_sequence(im, 20, np.random.default_rng(1))
    for v in seq[1:]:
        # mirrored or not, a jittered view stays strongly correlated with the still
        r = max(np.corrcoef(v.ravel(), im.ravel())[0, 1], np.corrcoef(v.ravel(), im[:, ::-1].ravel())[0, 1])
        assert r > 0.6


def test_bad_length_is_refused():
    with pytest.raises(ValueError, match="at least one frame"):
        still_to_sequence(face(), 0, np.random.default_rng(0))
    assert stills_to_sequences(np.zeros((0, 48, 48), np.uint8), 3, np.random.default_rng(0)).shape == (0, 48, 48)


def test_corpus_faces_become_sequences(fake_data, extractors, tmp_path: Path):
    from train.demo import corpus as dc

    m = dc.build(dc.BuildConfig(data_dir=fake_data, out=tmp_path, composites_per_clip=1, face_frames=3, quiet=True),
                 extractors)
    assert m is not None
    z = np.load(fake_data / "fer2013.npz")
    for split in dc.SPLITS:
        a = dict(np.load(tmp_path / "fer2013" / f"{split}.npz", allow_pickle=False))
        if len(a["ids"]) == 0:
            continue
        assert np.all(a["vision_lengths"] == 3) and a["vision"].shape[1:] == (3, 128)
        i = int(a["ids"][0].rsplit("_", 1)[1])
        np.testing.assert_allclose(a["vision"][0, 0], extractors.vision.embed([z["images"][i]])[0], rtol=1e-5, atol=1e-6)
        assert not np.allclose(a["vision"][0, 1], a["vision"][0, 0])
    comp = dict(np.load(tmp_path / "composite" / "train.npz", allow_pickle=False))
    assert np.all(comp["vision_lengths"] == 3)
