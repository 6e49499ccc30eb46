"""train.data on generated data in both public pickle layouts and the project's feature files."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from features.feature_files import write_folder
from features.spec import MODALITIES
from train.data import IEMOCAP_CLASSES, DataError, collate, load_dataset
from train.pickles import infer_span, left_justify
from train.synthetic import make_synthetic, write_mmsa, write_mult

MODS = MODALITIES


def _clean(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    x[~np.isfinite(x)] = 0
    return x


@pytest.fixture(scope="module", params=[True, False], ids=["aligned", "unaligned"])
def synth(request, tmp_path_factory):
    aligned = request.param
    data = make_synthetic(n=(40, 12, 12), aligned=aligned, seed=3)
    d = tmp_path_factory.mktemp("synth")
    write_mult(data, d / ("mosi_data.pkl" if aligned else "mosi_data_noalign.pkl"))
    write_mmsa(data, d / ("aligned_50.pkl" if aligned else "unaligned_50.pkl"))
    return data, d, ("aligned" if aligned else "unaligned")


@pytest.mark.parametrize("family", ["mmsa", "mult"])
def test_pickles_read_back_exactly(synth, family):
    data, d, lay = synth
    splits = load_dataset("mosi", d, layout=f"{family}-{lay}")
    assert splits.task == "regression" and splits.layout == f"{family}-{lay}"
    assert splits.feature_spec.dims == data.dims
    assert splits.feature_spec.text.layout == lay
    for name in ("train", "valid", "test"):
        ref, got = data.splits[name], splits.split(name).parts[0]
        np.testing.assert_allclose(got.labels, ref.labels)
        for m in MODS:
            # lengths recovered (given for MMSA, inferred from zero padding for MulT) and frames in place
            np.testing.assert_array_equal(got.lengths[m], ref.lengths[m])
            np.testing.assert_allclose(got.features[m], _clean(ref.features[m]))
        # the -inf / NaN planted by the generator are counted, not propagated
        assert splits.stats["nonfinite"][name] == {"text": 0, **ref.n_nonfinite}
        assert all(np.isfinite(got.features[m]).all() for m in MODS)
    assert splits.stats["sizes"] == {"train": 40, "valid": 12, "test": 12}


def test_auto_layout_prefers_aligned_mmsa(synth):
    _, d, lay = synth
    assert load_dataset("mosi", d).layout == f"mmsa-{lay}"


def test_collate_builds_batch_with_masks(synth):
    _, d, lay = synth
    splits = load_dataset("mosi", d, layout=f"mult-{lay}")
    batch = next(iter(DataLoader(splits.train, batch_size=7, collate_fn=collate)))
    assert batch.size == 7 and batch.labels.dtype == torch.float32 and len(batch.ids) == 7
    for m in MODS:
        x, mask, L = batch.features[m], batch.masks[m], batch.lengths[m]
        assert x.shape[0] == 7 and x.shape[1] == int(L.max()) and x.shape[2] == splits.feature_spec[m].dim
        assert torch.equal(mask.sum(1), L)
        assert (x[~mask] == 0).all()


def test_iemocap_mult_labels(tmp_path):
    data = make_synthetic(n=(30, 10, 10), task="classification", aligned=True, seed=1)
    write_mult(data, tmp_path / "iemocap_data.pkl")
    splits = load_dataset("iemocap", tmp_path)
    assert splits.task == "classification" and splits.class_names == IEMOCAP_CLASSES
    np.testing.assert_array_equal(splits.train.parts[0].labels, data.splits["train"].labels)
    batch = collate([splits.test[i] for i in range(4)])
    assert batch.labels.dtype == torch.long


def test_iemocap_ambiguous_labels_are_dropped_and_counted(tmp_path):
    data = make_synthetic(n=(30, 10, 10), task="classification", aligned=True, seed=1)
    p = write_mult(data, tmp_path / "iemocap_data.pkl")
    d = pickle.loads(p.read_bytes())
    d["train"]["labels"][0] = [[1, 0]] * 4  # no emotion positive
    p.write_bytes(pickle.dumps(d))
    splits = load_dataset("iemocap", tmp_path)
    assert len(splits.train) == 29 and splits.stats["dropped_ambiguous_labels"] == {"train": 1}


def test_front_padding_inference():
    x = np.zeros((2, 5, 2), dtype=np.float32)
    x[0, 2:] = 1.0  # front-padded, length 3
    x[1, :2] = 2.0  # back-padded, length 2
    x[1, 1] = 0.0  # ... but an all-zero row inside the span? here it is the last row -> length 1
    start, length = infer_span(x)
    assert start.tolist() == [2, 0] and length.tolist() == [3, 1]
    y = left_justify(x, start, length)
    assert (y[0, :3] == 1).all() and (y[0, 3:] == 0).all()
    x[1, 2] = 3.0  # zero row at 1 now lies inside the span and stays a frame
    assert infer_span(x)[1].tolist() == [3, 3]


def test_feature_files_round_trip(synth, tmp_path):
    _, d, lay = synth
    src = load_dataset("mosi", d, layout=f"mult-{lay}")
    arrays = {s: src.split(s).parts[0] for s in ("train", "valid", "test")}
    write_folder(tmp_path, arrays, src.feature_spec)
    got = load_dataset("mosi", tmp_path)
    assert got.layout == "features" and got.feature_spec == src.feature_spec
    for m in MODS:
        np.testing.assert_array_equal(got.valid.parts[0].features[m], arrays["valid"].features[m])
    assert got.train.parts[0].ids == arrays["train"].ids


def test_max_lens_truncates_and_updates_spec(synth):
    _, d, lay = synth
    s = load_dataset("mosi", d, layout=f"mmsa-{lay}", max_lens=(4, 0, 3))
    assert s.feature_spec.max_lens[0] == 4 and s.feature_spec.max_lens[2] == 3
    assert s.train.parts[0].lengths["text"].max() <= 4
    assert s.feature_spec.max_lens[1] == s.train.parts[0].features["audio"].shape[1]


def test_missing_data_message_names_files_and_sources(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("mosei", tmp_path / "nowhere")
    msg = str(e.value)
    for f in ("aligned_50.pkl", "unaligned_50.pkl", "mosei_senti_data.pkl", "feature_spec.json"):
        assert f in msg
    assert "thuiar/MMSA" in msg and "Multimodal-Transformer" in msg and "Nothing is downloaded" in msg


def test_malformed_files_are_explained(tmp_path):
    (tmp_path / "mosi_data.pkl").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="could not be read as a pickle"):
        load_dataset("mosi", tmp_path, layout="mult-aligned")
    (tmp_path / "mosi_data.pkl").write_bytes(pickle.dumps({"train": {}}))
    with pytest.raises(DataError, match=r"lacks the splits \['valid', 'test'\]"):
        load_dataset("mosi", tmp_path, layout="mult-aligned")
    split = {"text_bert": np.zeros((2, 3, 4)), "audio": np.zeros((2, 4, 3)), "vision": np.zeros((2, 4, 3)),
             "regression_labels": np.zeros(2)}
    (tmp_path / "aligned_50.pkl").write_bytes(pickle.dumps({s: split for s in ("train", "valid", "test")}))
    with pytest.raises(DataError, match="only BERT token ids"):
        load_dataset("mosi", tmp_path, layout="mmsa-aligned")
    with pytest.raises(DataError, match="not published in the mmsa-aligned layout"):
        load_dataset("iemocap", tmp_path, layout="mmsa-aligned")
    with pytest.raises(DataError, match="unknown dataset"):
        load_dataset("sims", tmp_path)


def test_regression_file_under_iemocap_name_is_refused(tmp_path):
    data = make_synthetic(n=(10, 4, 4), aligned=True)
    write_mult(data, tmp_path / "iemocap_data.pkl")
    with pytest.raises(DataError, match=r"expects \[N, 4, 2\]"):
        load_dataset("iemocap", tmp_path)


def test_iemocap_label_names_merge_excited_into_happy():
    from train.data import iemocap_class

    assert IEMOCAP_CLASSES[iemocap_class("Excited")] == "happy"
    assert IEMOCAP_CLASSES[iemocap_class("exc")] == IEMOCAP_CLASSES[iemocap_class("hap")] == "happy"
    assert IEMOCAP_CLASSES[iemocap_class("ang")] == "angry"
    with pytest.raises(DataError, match="frustrated"):
        iemocap_class("frustrated")


def test_feature_files_skip_unlabelled_and_remap_class_names(tmp_path):
    """Files from `train.extract` may hold unlabelled clips and list classes in their own order."""
    data = make_synthetic(n=(12, 6, 6), task="classification", seed=8)
    write_mult(data, tmp_path / "src" / "iemocap_data.pkl")
    src = load_dataset("iemocap", tmp_path / "src")
    arrays = {s: dataclasses.replace(src.split(s).parts[0]) for s in ("train", "valid", "test")}
    # relabel into the order ("angry", "excited", "neutral", "sad") and mark one clip unlabelled
    order = ("angry", "excited", "neutral", "sad")
    to_file = {IEMOCAP_CLASSES.index(n if n != "excited" else "happy"): i for i, n in enumerate(order)}
    for a in arrays.values():
        a.labels = np.array([to_file[int(c)] for c in a.labels], dtype=np.int64)
    arrays["train"].labels[0] = -1
    write_folder(tmp_path / "own", arrays, src.feature_spec, class_names=order)
    got = load_dataset("iemocap", tmp_path / "own")
    assert got.stats["unlabelled"] == {"train": 1}
    np.testing.assert_array_equal(got.train.parts[0].labels, src.train.parts[0].labels[1:])
    np.testing.assert_array_equal(got.test.parts[0].labels, src.test.parts[0].labels)
    (tmp_path / "own" / "valid.npz").unlink()
    with pytest.raises(DataError, match="valid.npz is missing"):
        load_dataset("iemocap", tmp_path / "own")


def test_reads_what_features_extract_packs(tmp_path):
    """The contract with train.extract: its packed split files load unchanged."""
    from train.extract import pack
    from features.transcripts import TranscriptRow
    from features.spec import FeatureSpec, ModalitySpec

    spec = FeatureSpec(**{m: ModalitySpec(m, d, "unaligned", t, "test") for m, d, t in
                          zip(MODS, (5, 4, 3), (6, 8, 7))})
    rng = np.random.default_rng(0)
    rows, lens = [], {}
    (tmp_path / "parts").mkdir()
    for i, split in enumerate(["train"] * 4 + ["valid"] * 2 + ["test"] * 2):
        rid = f"clip{i}"
        L = {"text": 1 + i % 6, "audio": 8, "vision": 0 if i == 1 else 3}  # clip1 has no face
        lens[rid] = L
        part = {}
        for m, d in zip(MODS, (5, 4, 3)):
            part[f"{m}_values"] = rng.normal(size=(L[m], d)).astype(np.float32)
            part[f"{m}_times"] = np.zeros((L[m], 2), np.float32)
            part[f"{m}_missing"] = np.array("no face" if L[m] == 0 else "")
            part[f"{m}_seconds"] = np.array(0.1, np.float32)
        part["duration"] = np.array(2.0, np.float32)
        np.savez(tmp_path / "parts" / f"{rid}.npz", **part)
        rows.append(TranscriptRow(rid, "", "" if i == 2 else str(i / 4 - 1), split))
    pack(tmp_path, rows, spec, [])
    got = load_dataset("mosi", tmp_path)
    assert got.layout == "features" and got.feature_spec == spec
    assert got.stats["unlabelled"] == {"train": 1} and got.stats["sizes"] == {"train": 3, "valid": 2, "test": 2}
    tr = got.train.parts[0]
    assert tr.ids == ["clip0", "clip1", "clip3"]
    assert [int(x) for x in tr.lengths["vision"]] == [3, 0, 3]
    assert [int(x) for x in tr.lengths["text"]] == [1, 2, 4]
    batch = collate([got.train[i] for i in range(3)])
    assert not batch.masks["vision"][1].any()  # an absent modality is a fully masked row, not an error
