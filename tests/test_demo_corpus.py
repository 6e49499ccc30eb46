"""The demo-corpus builder on a data folder the tests write themselves (tests/demo_data.py: RAVDESS-named
FLAC tones, tiny MOSI/MOSEI label files, a tiny FER npz), with the project's real extractors; and on a
small subset of the real shared data (`media`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from aumdf.metrics import sentiment_class
from features.feature_files import DataError
from features.spec import MODALITIES
from tests.demo_data import FER, MOSEI_ROWS, MOSI_ROWS, RAVDESS
from train.demo import corpus as dc
from train.demo import extraction as de
from train.demo import sources as src

# the raw data (tests/demo_data.py) and the built corpus come from session fixtures in tests/conftest.py:
# fake_data, face_weights, extractors, built


def _load(out: Path, source: str, split: str) -> dict[str, np.ndarray]:
    return dict(np.load(out / source / f"{split}.npz", allow_pickle=False))


# ------------------------------------------------------------------ pure parts


def test_valence_table_is_shared_and_off_the_class_edges():
    from aumdf.metrics import NEUTRAL_BAND

    assert set(src.RAVDESS_EMOTIONS.values()) <= set(src.VALENCE)
    assert set(src.FER_EMOTIONS) <= set(src.VALENCE)
    for emo, v in src.VALENCE.items():
        assert -3 <= v <= 3 and abs(abs(v) - NEUTRAL_BAND) > 0.1, emo
    cls = dict(zip(src.VALENCE, sentiment_class(list(src.VALENCE.values())).tolist()))
    assert cls["happy"] == cls["surprised"] == 2
    assert cls["neutral"] == cls["calm"] == 1
    assert {cls[e] for e in ("sad", "angry", "fearful", "disgust")} == {0}
    assert src.VALENCE["happy"] > src.VALENCE["neutral"] > src.VALENCE["sad"] > src.VALENCE["angry"]


def test_sentiment_class_matches_the_model_bins():
    from aumdf.losses import sentiment_classes

    s = np.array([-3, -0.5, -0.49, 0, 0.49, 0.5, 3], np.float32)
    assert sentiment_class(s).tolist() == sentiment_classes(torch.tensor(s)).tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert sentiment_class(np.float64(0.49999999)).tolist() == 2  # compared in float32, as the model holds scores


@pytest.mark.parametrize("stem, actor, emotion", [
    ("03-01-05-02-01-01-12", 12, 5), ("14_03-01-03-02-01-01-14", 14, 3), ("Actor_03-01-08-01-02-02-24", 24, 8),
])
def test_parse_ravdess_name(stem, actor, emotion):
    f = src.parse_ravdess_name(stem)
    assert f["actor"] == actor and f["emotion"] == emotion and f["modality"] == 3


def test_parse_ravdess_name_rejects_other_files():
    assert src.parse_ravdess_name("notes") is None
    assert src.parse_ravdess_name("03-01-05-02-01-12") is None


def test_actor_splits_cover_every_actor_once_and_balance_sexes():
    seen = [a for actors in src.ACTOR_SPLITS.values() for a in actors]
    assert sorted(seen) == list(range(1, 25))
    for split, actors in src.ACTOR_SPLITS.items():
        assert sum(a % 2 for a in actors) * 2 == len(actors), split  # half odd (male), half even (female)
    assert src.actor_split(1) == "train" and src.actor_split(20) == "valid" and src.actor_split(24) == "test"
    with pytest.raises(DataError):
        src.actor_split(25)


def test_draw_composites_same_class_every_clip_used_and_spread():
    rng = np.random.default_rng(0)
    audio = [0, 1, 2, 2, 0]
    text = [0, 0, 0, 1, 2, 2, 2, 2]
    face = [2, 1, 0, 0, 2]
    triples, skipped = dc.draw_composites(audio, text, face, per_clip=3, rng=rng)
    assert skipped == {}
    assert len(triples) == 3 * len(audio)
    for t, a, f in triples:
        assert text[t] == audio[a] == face[f]
    assert Counter_of(a for _, a, _ in triples) == {a: 3 for a in range(len(audio))}
    # class 0 has 3 texts and 6 draws: each text used exactly twice (no replacement before a pool is spent)
    class0_texts = [t for t, a, _ in triples if audio[a] == 0]
    assert Counter_of(class0_texts) == {0: 2, 1: 2, 2: 2}


def test_draw_composites_skips_clips_without_partner_and_is_seeded():
    triples, skipped = dc.draw_composites([0, 1], [0], [0, 1], 2, np.random.default_rng(0))
    assert skipped == {1: 1} and all(a == 0 for _, a, _ in triples)
    a = dc.draw_composites([0, 0, 2], [0, 0, 0, 2], [0, 2, 2], 2, np.random.default_rng(5))
    b = dc.draw_composites([0, 0, 2], [0, 0, 0, 2], [0, 2, 2], 2, np.random.default_rng(5))
    assert a == b


def test_mixed_composites_draw_the_other_classes_independently():
    audio = [0, 1, 2] * 40
    text, face = [0, 1, 2] * 5, [2, 1, 0] * 5
    agree, _ = dc.draw_composites(audio, text, face, 3, np.random.default_rng(4), mixed=0.0)
    assert agree == dc.draw_composites(audio, text, face, 3, np.random.default_rng(4))[0]  # 0 draws nothing extra
    triples, _ = dc.draw_composites(audio, text, face, 3, np.random.default_rng(4), mixed=1.0)
    assert len(triples) == 3 * len(audio)
    pairs = Counter_of((audio[a], text[t]) for t, a, _ in triples)
    assert len(pairs) == 9 and min(pairs.values()) > 20  # every (audio, text) class pair, about evenly
    differ = np.mean([text[t] != audio[a] for t, a, _ in triples])
    assert 0.55 < differ < 0.78  # 2/3 expected
    assert np.mean([face[f] != text[t] for t, _, f in triples]) > 0.55  # text and face drawn independently
    half, _ = dc.draw_composites(audio, text, face, 3, np.random.default_rng(4), mixed=0.5)
    assert 0.2 < np.mean([text[t] != audio[a] for t, a, _ in half]) < 0.45  # 1/3 expected


def test_make_composites_rotate_a_clips_renderings():
    from features.spec import FeatureSpec, ModalitySpec

    spec = FeatureSpec(*(ModalitySpec(m, 2) for m in MODALITIES))
    t = dc.Item("mosi", "train", "t", 2.0, feats=dc.only(spec, text=np.ones((2, 2))))
    f = dc.Item("fer2013", "train", "f", 2.0, "happy", dc.only(spec, vision=np.ones((1, 2))))
    views = [dc.Item("ravdess", "train", de.view_id("a", k), 2.0, "happy", dc.only(spec, audio=np.full((3, 2), k)))
             for k in range(2)]
    comp, _ = dc.make_composites([t], views[:1], [f], "train", 3, np.random.default_rng(0),
                                 renderings={"a": views})
    assert [c.parts[1] for c in comp] == ["a", "a~view1", "a"]
    assert [float(c.feats["audio"][0, 0]) for c in comp] == [0.0, 1.0, 0.0]
    plain, _ = dc.make_composites([t], views[:1], [f], "train", 3, np.random.default_rng(0))
    assert [c.parts[1] for c in plain] == ["a"] * 3


def Counter_of(xs):
    from collections import Counter

    return dict(Counter(xs))


def test_make_composites_refuses_mixed_splits():
    from features.spec import FeatureSpec, ModalitySpec

    spec = FeatureSpec(*(ModalitySpec(m, 2) for m in MODALITIES))
    t = dc.Item("mosi", "train", "t", 1.0, feats=dc.only(spec, text=np.ones((2, 2))))
    a = dc.Item("ravdess", "test", "a", 2.0, "happy", dc.only(spec, audio=np.ones((3, 2))))
    f = dc.Item("fer2013", "train", "f", 2.0, "happy", dc.only(spec, vision=np.ones((1, 2))))
    with pytest.raises(ValueError, match="another split"):
        dc.make_composites([t], [a], [f], "train", 1, np.random.default_rng(0))


def test_pack_pads_back_and_keeps_absent_modalities_empty():
    from features.spec import FeatureSpec, ModalitySpec

    spec = FeatureSpec(ModalitySpec("text", 2, max_len=3), ModalitySpec("audio", 3), ModalitySpec("vision", 4))
    items = [
        dc.Item("mosi", "train", "x", 1.0, feats=dc.only(spec, text=np.ones((3, 2)))),
        dc.Item("fer2013", "train", "y", -2.0, "sad", dc.only(spec, vision=2 * np.ones((1, 4)))),
    ]
    a = dc.pack(items, spec)
    f, L, c = a.features, a.lengths, a.columns
    assert f["text"].shape == (2, 3, 2) and L["text"].tolist() == [3, 0]
    assert f["audio"].shape == (2, 0, 3) and L["audio"].tolist() == [0, 0]
    assert f["vision"].shape == (2, 1, 4) and L["vision"].tolist() == [0, 1]
    assert np.all(f["vision"][1] == 2) and np.all(f["vision"][0] == 0)
    assert c["teacher_view"].tolist() == [False, False]
    assert c["audio_missing"].tolist() == ["mosi has no audio", "fer2013 has no audio"]
    assert c["vision_missing"].tolist() == ["mosi has no vision", ""]
    assert c["source"].tolist() == ["mosi", "fer2013"] and c["parts"].shape == (2, 3)
    too_long = dc.Item("mosi", "train", "z", 1.0, feats=dc.only(spec, text=np.ones((4, 2))))
    with pytest.raises(ValueError, match="spec allows 3"):
        dc.pack([too_long], spec)
    empty = dc.pack([], spec)
    assert empty.features["text"].shape == (0, 0, 2) and empty.columns["parts"].shape == (0, 3)


# ------------------------------------------------------------------ the build, end to end


def test_corpus_spec_is_the_app_extractors_spec(built, face_weights):
    from features.pipeline import ClipExtractor

    out, manifest = built
    expected = ClipExtractor.build(face_weights=str(face_weights)).feature_spec()  # the app's defaults
    assert expected.text.layout == "unaligned"
    for s in dc.SOURCES:
        spec = dc.FeatureSpec.from_dict(json.loads((out / s / "feature_spec.json").read_text()))
        assert spec.diff(expected) == [] and spec == expected
    assert dc.FeatureSpec.from_dict(manifest["feature_spec"]) == expected


def test_text_sources_follow_their_labels_and_modes(built):
    out, manifest = built
    for source, rows, key in (("mosi", MOSI_ROWS, lambda r: f"mosi:{r[0]}"),
                              ("mosei", MOSEI_ROWS, lambda r: f"mosei:{r[0]}_{r[1]}")):
        by_id = {key(r): r for r in rows}
        for split in dc.SPLITS:
            a = _load(out, source, split)
            mode = {"valid": ("dev", "valid")}.get(split, (split,))
            expect = {key(r) for r in rows if r[-1] in mode and key(r) not in {"mosi:a_5", "mosei:v6_1_2"}}
            assert set(a["ids"].tolist()) == expect
            for i, sid in enumerate(a["ids"]):
                assert a["labels"][i] == pytest.approx(by_id[sid][-2], abs=1e-6)
            assert np.all(a["text_lengths"] > 0)
            assert np.all(a["audio_lengths"] == 0) and np.all(a["vision_lengths"] == 0)
            assert not a["teacher_view"].any() and set(a["source"].tolist()) <= {source}
    assert sum(manifest["skipped"]["mosi"].values()) == 1  # the empty transcript
    assert list(manifest["skipped"]["mosei"]) == ["none of the 2 words is in the vocabulary (glove-6B-50d)"]


def test_text_features_are_the_extractors_own(built, extractors):
    out, _ = built
    a = _load(out, "mosi", "train")
    i = a["ids"].tolist().index("mosi:a_1")
    f = extractors.extract_arrays(transcript=MOSI_ROWS[0][1]).text
    assert a["text_lengths"][i] == len(f.values) == 7
    np.testing.assert_array_equal(a["text"][i, : len(f.values)], f.values)


def test_long_transcripts_are_cut_like_the_app_does(built, extractors):
    out, _ = built
    cap = extractors.feature_spec().text.max_len
    long_text = " ".join(["good"] * (cap + 10))
    values, reason = de.extract_transcript(extractors, long_text)
    assert reason is None and values.shape == (cap, 50)


def test_ravdess_split_by_actor_with_valence_labels_and_sentence(built, fake_data, extractors):
    out, manifest = built
    for split, actor in (("train", 1), ("valid", 19), ("test", 21)):
        a = _load(out, "ravdess", split)
        assert len(a["ids"]) == len(RAVDESS[actor])  # the silent clip, the song and the stray file are not here
        for i, sid in enumerate(a["ids"]):
            f = src.parse_ravdess_name(sid.split(":")[1])
            assert f["actor"] == actor
            emo = src.RAVDESS_EMOTIONS[f["emotion"]]
            assert a["emotion"][i] == emo and a["labels"][i] == src.VALENCE[emo]
            sentence = extractors.text.extract(src.RAVDESS_STATEMENTS[f["statement"]]).values
            assert a["text_lengths"][i] == len(sentence) == 6
            np.testing.assert_array_equal(a["text"][i, :6], sentence)
            assert 90 <= a["audio_lengths"][i] <= 110  # 1 s at 100 frames per second
            assert a["vision_lengths"][i] == 0
    assert list(manifest["skipped"]["ravdess"]) == ["audio missing: silence"]
    assert "ravdess:03-01-03-02-02-02-01" in manifest["skipped_examples"]["ravdess"][0]


def test_ravdess_audio_is_the_extractors_own(built, fake_data, extractors):
    out, _ = built
    a = _load(out, "ravdess", "valid")
    i = 0
    path = next((fake_data / "ravdess").rglob(a["ids"][i].split(":")[1] + ".flac"))
    sentence = src.RAVDESS_STATEMENTS[src.parse_ravdess_name(path.stem)["statement"]]
    clip = extractors.extract(path, transcript=sentence)  # what the app computes for this file
    n = a["audio_lengths"][i]
    assert n == len(clip.audio.values)
    np.testing.assert_allclose(a["audio"][i, :n], clip.audio.values, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(a["text"][i, : a["text_lengths"][i]], clip.text.values)


def test_long_clips_are_pooled_like_the_app_does(extractors, tmp_path):
    from tests.media import voiced_tone, write_audio

    p = write_audio(tmp_path / "03-01-03-01-01-01-02.flac", voiced_tone(seconds=2.5))
    clip = src.RavdessClip(p, "ravdess:03-01-03-01-01-01-02", 2, "happy", 1, 1, "train")
    feats, reasons, _ = de.extract_ravdess([clip], extractors, cache_dir=None)
    assert reasons == {}
    assert feats[clip.id][1].shape == (extractors.feature_spec().audio.max_len, 74)  # 250 frames pooled to 150


def test_fer_split_by_usage_one_frame_embedded_like_a_crop(built, fake_data, extractors):
    out, _ = built
    z = np.load(fake_data / "fer2013.npz")
    for split, usage in (("train", "Training"), ("valid", "PublicTest"), ("test", "PrivateTest")):
        a = _load(out, "fer2013", split)
        idx = [i for i, f in enumerate(FER) if f[1] == usage]
        assert sorted(a["ids"].tolist()) == sorted(f"fer2013:{usage}_{i}" for i in idx)
        assert np.all(a["vision_lengths"] == 1) and a["vision"].shape[1:] == (1, 128)
        assert np.all(a["text_lengths"] == 0) and np.all(a["audio_lengths"] == 0)
        for k, sid in enumerate(a["ids"]):
            i = int(sid.rsplit("_", 1)[1])
            emo = src.FER_EMOTIONS[FER[i][0]]
            assert a["emotion"][k] == emo and a["labels"][k] == src.VALENCE[emo]
        first = int(a["ids"][0].rsplit("_", 1)[1])
        expect = extractors.vision.embed([z["images"][first]])
        np.testing.assert_allclose(a["vision"][0, 0], expect[0], rtol=1e-5, atol=1e-6)


def test_composites_join_parts_of_one_split_and_class(built):
    out, manifest = built
    parts = {}
    for s in dc.NATURAL_SOURCES:
        for split in dc.SPLITS:
            a = _load(out, s, split)
            for i, sid in enumerate(a["ids"]):
                parts[sid] = (split, a, i)
    for split in dc.SPLITS:
        c = _load(out, "composite", split)
        n_clips = len(_load(out, "ravdess", split)["ids"])
        assert len(c["ids"]) == 2 * n_clips  # every clip has partners of its class in the fake data
        assert c["teacher_view"].all() and set(c["source"].tolist()) == {"composite"}
        for i in range(len(c["ids"])):
            t_id, a_id, f_id = c["parts"][i]
            assert t_id.split(":")[0] in ("mosi", "mosei") and a_id.startswith("ravdess:") and f_id.startswith("fer2013:")
            labels = []
            for m, pid in zip(MODALITIES, (t_id, a_id, f_id)):
                psplit, arr, j = parts[pid]
                assert psplit == split
                n = arr[f"{m}_lengths"][j]
                assert c[f"{m}_lengths"][i] == n > 0
                np.testing.assert_array_equal(c[m][i, :n], arr[m][j, :n])
                labels.append(arr["labels"][j])
            assert len(set(sentiment_class(labels).tolist())) == 1
            assert c["labels"][i] == pytest.approx(np.mean(labels), abs=1e-6)
            assert sentiment_class([c["labels"][i]])[0] == sentiment_class(labels)[0]
    assert manifest["stats"]["composite"]["train"]["teacher_view"] == len(_load(out, "composite", "train")["ids"])


def test_reader_loads_the_corpus_as_an_ordinary_dataset(built):
    from torch.utils.data import DataLoader

    from train.data import collate, load_dataset, source_weights

    out, manifest = built
    one = load_dataset("mosi", out / "fer2013", layout="features")  # each source is a plain feature folder
    assert len(one.test) == sum(f[1] == "PrivateTest" for f in FER)
    corpus = load_dataset("demo", out)
    assert corpus.layout == "corpus" and corpus.task == "regression"
    assert corpus.feature_spec.to_dict() == manifest["feature_spec"]  # the app's spec, not one re-derived from padding
    ds = corpus.train
    assert len(ds) == sum(manifest["stats"][s]["train"]["n"] for s in dc.SOURCES)
    assert corpus.stats["sizes"]["test"] == sum(manifest["stats"][s]["test"]["n"] for s in dc.SOURCES)
    batch = next(iter(DataLoader(ds, batch_size=len(ds), collate_fn=collate)))
    assert batch.masks["text"].any(1).sum() < len(ds)  # FER samples have no text
    # per-sample columns survive the reader: source, emotion, parts, teacher_view, in item order
    source = ds.column("source")
    assert [i.split(":")[0] for i in ds.ids] == source.tolist()
    fer = ds.where(source == "fer2013")
    assert set(fer.column("emotion").tolist()) <= set(src.FER_EMOTIONS) and len(fer) == manifest["stats"]["fer2013"]["train"]["n"]
    assert ds.column("parts").shape == (len(ds), 3)
    # the teacher's samples are a filter on a column, and exactly "every modality present"
    complete = np.all([batch.masks[m].any(1).numpy() for m in MODALITIES], axis=0)
    np.testing.assert_array_equal(ds.teacher_view, complete)
    np.testing.assert_array_equal(batch.teacher_view.numpy(), complete)
    teacher = ds.where(ds.teacher_view)
    assert set(teacher.column("source").tolist()) == {"composite"} and teacher.ids[0].startswith("composite:train:")
    tb = next(iter(DataLoader(teacher, batch_size=len(teacher), collate_fn=collate)))
    assert all(bool(tb.masks[m].any(1).all()) for m in MODALITIES)
    np.testing.assert_array_equal(corpus.valid.labels, [corpus.valid[i].label for i in range(len(corpus.valid))])
    w = source_weights(ds)
    assert w.shape == (len(ds),) and w.sum() == pytest.approx(1.0)
    for s in dc.SOURCES:
        assert w[source == s].sum() == pytest.approx(1 / len(dc.SOURCES))
    assert source_weights(teacher) is None  # one source: uniform draws
    # --source-balance: shares proportional to n_s ** power; power 1 is a plain uniform draw over samples
    sizes = {s: int((source == s).sum()) for s in dc.SOURCES}
    half = source_weights(ds, 0.5)
    root = {s: n ** 0.5 for s, n in sizes.items()}
    for s in dc.SOURCES:
        assert half[source == s].sum() == pytest.approx(root[s] / sum(root.values()))
    np.testing.assert_allclose(source_weights(ds, 1.0), np.full(len(ds), 1 / len(ds)))
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        source_weights(ds, 2.0)


def test_rebuild_is_deterministic_and_reuses_the_audio_cache(built, fake_data, extractors, tmp_path):
    out, manifest = built
    assert any((out / "cache").rglob("*.npz"))
    again = tmp_path / "again"
    # the cache under the first output makes the second build skip audio extraction
    import shutil

    shutil.copytree(out / "cache", again / "cache")
    m2 = dc.build(dc.BuildConfig(data_dir=fake_data, out=again, seed=3, composites_per_clip=2), extractors)
    assert m2["seconds"]["audio_extractor_cpu"] == 0.0
    for split in dc.SPLITS:
        a, b = _load(out, "composite", split), _load(again, "composite", split)
        assert a["parts"].tolist() == b["parts"].tolist()
        np.testing.assert_array_equal(a["labels"], b["labels"])


def test_rebuild_reuses_the_face_embeddings(built, fake_data, extractors, tmp_path, monkeypatch):
    out, _ = built
    assert len(list((out / "cache").glob("faces-*.npy"))) == 1
    import shutil

    shutil.copytree(out / "cache", tmp_path / "again" / "cache")

    def no_embedding(*a, **k):
        raise AssertionError("the faces were embedded again although the cache holds them")

    monkeypatch.setattr(de, "embed_faces", no_embedding)
    dc.build(dc.BuildConfig(data_dir=fake_data, out=tmp_path / "again", seed=3, composites_per_clip=2), extractors)
    for split in dc.SPLITS:
        np.testing.assert_array_equal(_load(out, "fer2013", split)["vision"],
                                      _load(tmp_path / "again", "fer2013", split)["vision"])
    # other settings are another key: the faces are embedded, not read from the cache
    with pytest.raises(AssertionError, match="embedded again"):
        dc.build(dc.BuildConfig(data_dir=fake_data, out=tmp_path / "again", seed=3, composites_per_clip=2,
                                face_frames=2), extractors)


def test_speech_views_add_training_renderings_and_mixed_composites_stay_in_train(fake_data, extractors, tmp_path):
    cfg = dc.BuildConfig(data_dir=fake_data, out=tmp_path, seed=3, composites_per_clip=2, speech_views=2,
                         mixed_composites=1.0, quiet=True)
    m = dc.build(cfg, extractors)
    assert m["speech_views_per_train_clip"] == 2 and m["composite"]["mixed_share_train"] == 1.0
    train = _load(tmp_path, "ravdess", "train")
    clips = [i for i in train["ids"] if "~view" not in i]
    assert sorted(train["ids"].tolist()) == sorted(de.view_id(c, k) for c in clips for k in range(3))
    for split in ("valid", "test"):  # held-out clips stay as recorded
        assert not any("~view" in i for i in _load(tmp_path, "ravdess", split)["ids"])
    row = {sid: i for i, sid in enumerate(train["ids"])}
    a, v = row[clips[0]], row[de.view_id(clips[0], 1)]
    np.testing.assert_array_equal(train["text"][a], train["text"][v])  # the same sentence
    assert not np.allclose(train["audio"][a, :5], train["audio"][v, :5])  # another rendering of the speech
    comp = _load(tmp_path, "composite", "train")
    assert len(comp["ids"]) == 2 * len(clips)  # views do not add composites; they rotate through them
    assert any("~view" in p for p in comp["parts"][:, 1])
    labels = {sid: lab for s in ("mosi", "mosei", "ravdess", "fer2013") for split in dc.SPLITS
              for sid, lab in zip(*(lambda z: (z["ids"], z["labels"]))(_load(tmp_path, s, split)))}
    classes = [sentiment_class([labels[p] for p in parts]) for parts in comp["parts"]]
    assert any(len(set(c.tolist())) > 1 for c in classes)  # some training composites disagree
    for split in ("valid", "test"):
        held = _load(tmp_path, "composite", split)
        assert all(len(set(sentiment_class([labels[p] for p in parts]).tolist())) == 1 for parts in held["parts"])
    again = dc.build(dc.BuildConfig(**{**cfg.__dict__, "out": tmp_path / "again"}), extractors)
    assert again["seconds"]["audio_extractor_cpu"] > 0  # another output folder: its own cache
    np.testing.assert_array_equal(_load(tmp_path / "again", "ravdess", "train")["audio"], train["audio"])


def test_limit_caps_each_natural_source_and_split(fake_data, extractors, tmp_path):
    m = dc.build(dc.BuildConfig(data_dir=fake_data, out=tmp_path, limit=2, composites_per_clip=1), extractors)
    for s in dc.NATURAL_SOURCES:
        for split in dc.SPLITS:
            assert m["stats"][s][split]["n"] <= 2


def test_bad_data_dir_says_what_is_missing(tmp_path, extractors):
    with pytest.raises(DataError, match="does not exist"):
        dc.build(dc.BuildConfig(data_dir=tmp_path / "nope", out=tmp_path / "o"), extractors)
    (tmp_path / "d" / "mosi").mkdir(parents=True)
    with pytest.raises(DataError, match="label.csv"):
        dc.build(dc.BuildConfig(data_dir=tmp_path / "d", out=tmp_path / "o"), extractors)
    with pytest.raises(DataError, match="face_frames must be >= 1"):  # refused, not silently one frame
        dc.build(dc.BuildConfig(data_dir=tmp_path / "d", out=tmp_path / "o", face_frames=0), extractors)


def test_cli_reports_a_missing_folder_without_a_traceback(tmp_path, capsys):
    rc = dc.main(["--data-dir", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), "--quiet", "--no-cache"])
    assert rc == 2
    assert "does not exist" in capsys.readouterr().err


# ------------------------------------------------------------------ the real data (small subset)


@pytest.mark.media
@pytest.mark.slow
def test_real_data_subset(shared, tmp_path, face_weights):
    from features.face_expression import DEFAULT_DIR, WEIGHTS_NAME

    # without the shipped face-expression weights an untrained net stands in: the vision numbers are
    # then meaningless, but reading, splitting and the text/audio path are still the real ones
    ex = de.app_extractor(None if (DEFAULT_DIR / WEIGHTS_NAME).is_file() else face_weights)
    m = dc.build(dc.BuildConfig(data_dir=shared / "data", out=tmp_path, limit=6, composites_per_clip=1, quiet=True), ex)
    for s in dc.NATURAL_SOURCES:
        for split in dc.SPLITS:
            assert 0 < m["stats"][s][split]["n"] <= 6, (s, split)
    for split in dc.SPLITS:  # every clip makes a composite unless its class has no transcript or face
        lonely = sum(m["composite"]["skipped_clips_without_partner"].get(split, {}).values())
        assert m["stats"]["composite"][split]["n"] == m["stats"]["ravdess"][split]["n"] - lonely
    assert m["stats"]["composite"]["train"]["n"] > 0
    from train.data import load_dataset

    assert load_dataset("demo", tmp_path).feature_spec == ex.feature_spec()
    r = _load(tmp_path, "ravdess", "test")
    assert all(src.actor_split(src.parse_ravdess_name(i.split(":")[1])["actor"]) == "test" for i in r["ids"])
    # RAVDESS sentences last about 3-4 s: 300-400 frames at 100 Hz, pooled to the spec's 150
    assert np.all(r["audio_lengths"] == ex.feature_spec().audio.max_len)
