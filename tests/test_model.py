"""The AUMDF network: every modality subset and drop rate, aligned and unaligned, masking equivalence."""

from __future__ import annotations

import pytest
import torch

from aumdf.model import AUMDF
from aumdf.rprm import SUBSETS, drop_frames, drop_modalities, keep_only, subset_name
from aumdf.types import MODALITIES, Batch
from tests.factories import DIMS, SHAPES, random_batch, tiny_config

DROP_RATES = [0.0, 0.1, 0.3, 0.5, 0.7, 0.9]


@pytest.fixture(scope="module")
def model() -> AUMDF:
    torch.manual_seed(0)
    return AUMDF.from_config(tiny_config()).eval()


@pytest.mark.parametrize("layout", ["aligned", "unaligned"])
@pytest.mark.parametrize("subset", SUBSETS, ids=subset_name)
@pytest.mark.parametrize("p", DROP_RATES)
def test_every_subset_and_drop_rate(model, layout, subset, p):
    b = 3
    batch = drop_frames(keep_only(random_batch(layout, b=b), subset), p, torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(batch)
    d = model.config.d_model
    assert out.prediction.shape == (b,)
    assert torch.isfinite(out.prediction).all() and torch.isfinite(out.fused).all()
    assert out.fused.shape == (b, 3 * d)
    # six DWAM gates, one per ordered pair, over the query modality's frames
    assert sorted(out.gates) == sorted(f"{m}>{n}" for m in MODALITIES for n in MODALITIES if n != m)
    for key, g in out.gates.items():
        m = key.split(">")[0]
        assert g.shape == (b, SHAPES[layout][m], d) and torch.isfinite(g).all()
    for m in MODALITIES:
        n, k = out.key_modalities[m]
        a = out.attention[m]
        assert a.shape == (b, 1, 2, SHAPES[layout][m], SHAPES[layout][n] + SHAPES[layout][k])
        assert torch.isfinite(a).all()
        # a query frame with at least one available key distributes exactly 1 over available keys
        key_mask = torch.cat([batch.masks[n], batch.masks[k]], dim=1)
        rows = a.sum(-1)[:, 0]  # b h t_m
        expect = (batch.masks[m] & key_mask.any(1, keepdim=True)).to(rows.dtype)
        torch.testing.assert_close(rows, expect[:, None, :].expand_as(rows))
    for m in MODALITIES:
        if m not in subset:
            assert not batch.masks[m].any()
            assert (batch.features[m] == 0).all()


def test_attention_never_on_unavailable_keys(model):
    batch = drop_frames(random_batch("unaligned", b=4), 0.5, torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = model(batch)
    for m in MODALITIES:
        n, k = out.key_modalities[m]
        unavailable = ~torch.cat([batch.masks[n], batch.masks[k]], dim=1)  # b s
        weights = out.attention[m][:, 0]  # b h i s
        assert weights.masked_select(unavailable[:, None, None, :].expand_as(weights)).abs().max() == 0


def test_classification_head_and_single_modality_sample():
    cfg = tiny_config(task="classification", n_classes=4)
    model = AUMDF.from_config(cfg).eval()
    batch = keep_only(random_batch("unaligned", b=2, labels="class"), ["vision"])
    with torch.no_grad():
        out = model(batch)
    assert out.prediction.shape == (2, 4) and torch.isfinite(out.prediction).all()


def test_all_modalities_missing_is_finite(model):
    batch = drop_modalities(random_batch("aligned", b=2), MODALITIES)
    with torch.no_grad():
        out = model(batch)
    assert torch.isfinite(out.prediction).all()


@pytest.mark.parametrize("layout", ["aligned", "unaligned"])
def test_padded_and_dropped_frame_values_do_not_matter(model, layout):
    batch = drop_frames(random_batch(layout, b=4, seed=5), 0.4, torch.Generator().manual_seed(7))
    # refill every unavailable frame (padding and dropped) with large garbage
    g = torch.Generator().manual_seed(11)
    feats = {
        m: torch.where(batch.masks[m].unsqueeze(-1), batch.features[m], torch.randn(batch.features[m].shape, generator=g) * 100)
        for m in MODALITIES
    }
    noisy = Batch(features=feats, masks=batch.masks, lengths=batch.lengths, labels=batch.labels)
    assert any((noisy.features[m] != batch.features[m]).any() for m in MODALITIES)
    with torch.no_grad():
        a, b = model(batch), model(noisy)
    torch.testing.assert_close(a.prediction, b.prediction, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.fused, b.fused, atol=1e-5, rtol=0)


def test_frames_beyond_length_do_not_matter_even_when_masked_available(model):
    """Padding is also defined by `lengths`: the BiLSTMs never read past it."""
    batch = random_batch("unaligned", b=3, seed=2)
    longer = {m: torch.cat([batch.features[m], torch.randn(3, 7, batch.features[m].shape[-1])], dim=1) for m in MODALITIES}
    masks = {m: torch.cat([batch.masks[m], torch.zeros(3, 7, dtype=torch.bool)], dim=1) for m in MODALITIES}
    padded = Batch(features=longer, masks=masks, lengths=batch.lengths, labels=batch.labels)
    with torch.no_grad():
        torch.testing.assert_close(model(batch).prediction, model(padded).prediction, atol=1e-5, rtol=0)


def test_drop_is_seeded_and_only_removes_available_frames():
    batch = random_batch("unaligned", b=4)
    a = drop_frames(batch, 0.5, torch.Generator().manual_seed(1))
    b = drop_frames(batch, 0.5, torch.Generator().manual_seed(1))
    c = drop_frames(batch, 0.5, torch.Generator().manual_seed(2))
    for m in MODALITIES:
        assert torch.equal(a.masks[m], b.masks[m])
        assert (a.masks[m] <= batch.masks[m]).all()  # never revives padding
        assert torch.equal(a.lengths[m], batch.lengths[m])
    assert any(not torch.equal(a.masks[m], c.masks[m]) for m in MODALITIES)
    kept = sum(a.masks[m].sum() for m in MODALITIES) / sum(batch.masks[m].sum() for m in MODALITIES)
    assert 0.4 < float(kept) < 0.6
    with pytest.raises(ValueError):
        drop_frames(batch, 1.5)


def test_every_parameter_gets_a_gradient_from_the_task_loss():
    model = AUMDF.from_config(tiny_config()).train()
    batch = random_batch("unaligned", b=4)
    out = model(batch)
    (out.prediction - batch.labels).abs().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"no gradient for {missing}"


def test_ablation_switches_change_the_structure():
    full = AUMDF.from_config(tiny_config())
    no_dwam = AUMDF.from_config(tiny_config(use_dwam=False))
    no_rem = AUMDF.from_config(tiny_config(use_rem=False))
    assert no_dwam.dwam is None and no_rem.rem is None
    with torch.no_grad():
        out = no_dwam.eval()(random_batch("aligned", b=2))
        assert out.gates == {} and torch.isfinite(out.prediction).all()
        assert torch.isfinite(no_rem.eval()(random_batch("aligned", b=2)).prediction).all()
    assert sum(p.numel() for p in no_dwam.parameters()) < sum(p.numel() for p in full.parameters())


def test_config_validates_and_round_trips():
    from aumdf.config import AUMDFConfig

    cfg = AUMDFConfig.paper_table2(DIMS)
    assert cfg.d_model == 300 and cfg.head_dropout == 0.8
    assert AUMDFConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="divisible"):
        AUMDFConfig(input_dims=DIMS, d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="unknown model config keys"):
        AUMDFConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_drop_to_subsets_keeps_one_of_the_seven_subsets_per_hit_sample():
    from aumdf.rprm import SUBSETS, drop_to_subsets

    batch = random_batch("aligned", b=64, seed=4)
    assert drop_to_subsets(batch, 0.0) is batch  # no draw at rate 0
    out = drop_to_subsets(batch, 1.0, torch.Generator().manual_seed(0))
    seen = set()
    for i in range(64):
        kept = tuple(m for m in MODALITIES if out.masks[m][i].any())
        assert kept in SUBSETS
        seen.add(kept)
        for m in kept:
            assert torch.equal(out.masks[m][i], batch.masks[m][i])  # a kept modality keeps every frame
    assert len(seen) == 7
    half = drop_to_subsets(batch, 0.5, torch.Generator().manual_seed(0))
    complete = sum(all(half.masks[m][i].any() for m in MODALITIES) for i in range(64))
    assert 24 < complete < 48  # about 32 untouched, plus the hits that drew {l,a,v}
    with pytest.raises(ValueError):
        drop_to_subsets(batch, 1.5)


def test_configs_saved_before_framewise_dwam_load_with_pooled_gates():
    from aumdf.config import AUMDFConfig

    old = {k: v for k, v in AUMDFConfig.demo(DIMS).to_dict().items() if k not in ("dwam_framewise", "class_heads")}
    assert AUMDFConfig.from_dict(old).dwam_framewise is False
    assert AUMDFConfig.from_dict(old).class_heads == "softmax"  # the one 4-way softmax they were trained with
    assert AUMDFConfig.demo(DIMS).class_heads == "binary"
    assert AUMDFConfig.demo(DIMS).dwam_framewise is True
    assert AUMDF.from_config(AUMDFConfig.from_dict(old)).dwam.framewise is False
