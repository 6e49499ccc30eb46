"""Vision modality: MTCNN on scikit-image's astronaut, no-face clips, tracking, the three embedders."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest

from features.types import FeatureError
from features.vision import VisionExtractor, square_crop, track_main_face
from tests.media import astronaut_frame, noface_frame


@pytest.fixture(scope="module")
def onet() -> VisionExtractor:
    return VisionExtractor(embedder="onet", fps=5)


@pytest.fixture(scope="module")
def untrained_fer_dir(tmp_path_factory):
    """An UNTRAINED face-expression checkpoint in the shipped layout: checks loading and shapes only."""
    import torch
    from safetensors.torch import save_file

    from features.face_expression import CLASSES, FaceExpressionNet

    torch.manual_seed(0)
    net = FaceExpressionNet().eval()
    d = tmp_path_factory.mktemp("fer")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(d / "model.safetensors"))
    (d / "config.json").write_text(json.dumps({"arch": asdict(net.config), "classes": list(CLASSES)}))
    return d


def test_astronaut_face_found_with_landmarks_inside_box(onet):
    frames = np.stack([astronaut_frame(640, 480)] * 3)
    out = onet.extract(frames, np.array([0.0, 0.2, 0.4]))
    assert out.present and out.values.shape == (3, 256) and np.all(np.isfinite(out.values))
    box, lm = out.extras.boxes[0], out.extras.landmarks[0]
    assert out.extras.probs.min() > 0.95
    # the astronaut's face in the letterboxed 640x480 frame: roughly x 240..330, y 60..165
    assert 200 < box[0] < 280 and 290 < box[2] < 360 and 30 < box[1] < 100 and 130 < box[3] < 200
    assert np.all((lm[:, 0] > box[0]) & (lm[:, 0] < box[2]) & (lm[:, 1] > box[1]) & (lm[:, 1] < box[3]))
    assert out.extras.crops[0].shape == (64, 64, 3) and out.extras.crops[0].dtype == np.uint8
    np.testing.assert_allclose(out.times[:, 0], [0.0, 0.2, 0.4])
    np.testing.assert_allclose(out.times[:, 1] - out.times[:, 0], 0.2)


def test_thread_setting_is_restored(onet):
    import torch

    before = torch.get_num_threads()
    onet.extract(np.stack([noface_frame(64, 48)]), np.zeros(1))
    assert torch.get_num_threads() == before


def test_no_face_is_missing_with_reason(onet):
    out = onet.extract(np.stack([noface_frame()] * 4), np.arange(4) / 5)
    assert not out.present and "no face" in out.missing_reason and out.values.shape == (0, 256)


def test_frames_smaller_than_a_face_are_missing_not_a_crash(onet):
    out = onet.extract(np.zeros((2, 1, 1, 3), np.uint8), np.array([0.0, 0.2]))
    assert not out.present and "no face" in out.missing_reason
    out = onet.extract(np.zeros((1, 30, 500, 3), np.uint8), np.array([0.0]))
    assert not out.present


def test_frames_without_face_are_left_out_not_filled(onet):
    frames = np.stack([astronaut_frame(), noface_frame(), astronaut_frame()])
    out = onet.extract(frames, np.array([0.0, 0.2, 0.4]))
    np.testing.assert_allclose(out.extras.frame_times, [0.0, 0.4])
    assert out.extras.face_fraction == pytest.approx(2 / 3)


def test_streamed_chunks_equal_one_batch(onet):
    frames = np.stack([astronaut_frame(320, 240), noface_frame(320, 240)] * 3)
    times = np.arange(6) / 5
    whole = onet.extract(frames, times)
    streamed = onet.extract_stream([(frames[:4], times[:4]), (frames[4:], times[4:])])
    np.testing.assert_allclose(streamed.values, whole.values, atol=1e-5)
    np.testing.assert_allclose(streamed.times, whole.times)
    assert streamed.extras.n_frames == 6 and streamed.extras.face_fraction == pytest.approx(0.5)


def test_long_video_is_decoded_in_chunks(onet, tmp_path):
    from features.decode import iter_video
    from tests.media import write_video

    path = write_video(tmp_path / "long.mp4", np.stack([astronaut_frame(160, 120)] * 100), fps=25)
    chunks = list(iter_video(path, fps=25, max_side=None, chunk=32))
    assert [len(c[0]) for c in chunks] == [32, 32, 32, 4]
    out = onet.extract_stream(iter_video(path, fps=5, max_side=None, chunk=8))
    assert out.extras.n_frames == 20


def test_tracking_follows_the_main_face():
    big, small = np.array([100, 100, 200, 200.0]), np.array([10, 10, 40, 40.0])
    moved = big + 10
    picks = track_main_face([np.stack([big, small]), np.stack([small, moved]), None, np.stack([small])])
    # frame 3 holds only the small face: one candidate left is taken (main face absent or replaced)
    assert picks[:3] == [0, 1, None] and picks[3] == 0


def test_square_crop_pads_at_border():
    img = np.zeros((100, 100, 3), np.uint8)
    img[:10, :10] = 255
    crop = square_crop(img, np.array([-20, -20, 20, 20.0]), 0.0, 32)
    assert crop.shape == (32, 32, 3)


def test_fer_embedder_plumbing_with_untrained_weights(untrained_fer_dir):
    ex = VisionExtractor(embedder="fer", weights=untrained_fer_dir)
    assert ex.dim == 128 and len(ex.spec_settings["weights"]) == 12
    out = ex.extract(np.stack([astronaut_frame()] * 2), np.array([0.0, 0.2]))
    assert out.values.shape == (2, 128)  # shapes only: these weights are random


def test_fer_missing_weights_is_a_clear_error(tmp_path):
    with pytest.raises(FeatureError, match="train"):
        VisionExtractor(embedder="fer", weights=tmp_path / "nothing-here")


def test_facenet_needs_user_weights(tmp_path):
    with pytest.raises(FeatureError, match="does not download"):
        VisionExtractor(embedder="facenet")
    with pytest.raises(FeatureError, match="does not exist"):
        VisionExtractor(embedder="facenet", weights=tmp_path / "missing.pt")


def test_facenet_with_a_user_state_dict(tmp_path):
    import torch
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(0)
    torch.save(InceptionResnetV1(pretrained=None).state_dict(), tmp_path / "user.pt")  # stands in for a real file
    ex = VisionExtractor(embedder="facenet", weights=tmp_path / "user.pt")
    out = ex.extract(np.stack([astronaut_frame()]), np.array([0.0]))
    assert ex.dim == 512 and out.values.shape == (1, 512)


def test_bad_frames_are_clear_errors(onet):
    with pytest.raises(FeatureError, match="uint8 RGB"):
        onet.extract(np.zeros((2, 10, 10), np.float32), np.zeros(2))
    with pytest.raises(FeatureError, match="timestamps"):
        onet.extract(np.zeros((2, 10, 10, 3), np.uint8), np.zeros(3))
    with pytest.raises(FeatureError, match="unknown face embedder"):
        VisionExtractor(embedder="vgg")


def test_shipped_fer_weights_if_present():
    from features.face_expression import DEFAULT_DIR

    if not (DEFAULT_DIR / "model.safetensors").is_file():
        pytest.skip(f"no trained face-expression weights at {DEFAULT_DIR} yet (python -m train.face_expression)")
    ex = VisionExtractor(embedder="fer")
    out = ex.extract(np.stack([astronaut_frame()]), np.array([0.0]))
    assert out.values.shape == (1, ex.dim) and np.all(np.isfinite(out.values))


@pytest.mark.media
def test_real_grid_and_cremad_faces(shared, onet):
    from features.decode import decode_video

    for path in [sorted((shared / "media" / "grid").glob("*.mpg"))[0], shared / "media" / "cremad" / "1001_DFA_NEU_XX.flv"]:
        frames, times = decode_video(path, fps=5)
        out = onet.extract(frames, times)
        assert out.present and out.extras.face_fraction > 0.9, path
