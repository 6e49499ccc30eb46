"""Invariants of the model that a regression would break: masked positions never reach the prediction
inside the model, absent modalities pool to exactly zero, REM's hard gate and its gradient, REM statistics,
relative offsets and the time window, gamma = 1 without the third modality, frame-wise DWAM gates."""

from __future__ import annotations

import pytest
import torch

from aumdf.dwam import DWAM
from aumdf.masking import masked_mean_var
from aumdf.mmt import TimeWindowBias, relative_offsets
from aumdf.model import AUMDF
from aumdf.rem import REM, straight_through_gate
from aumdf.rprm import drop_frames, keep_only
from aumdf.types import MODALITIES
from tests.factories import random_batch, tiny_config


def _model(**kw) -> AUMDF:
    torch.manual_seed(0)
    return AUMDF.from_config(tiny_config(**kw)).eval()


def _garbage_at(x: torch.Tensor, mask: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """x: [b, t, d] with large random values wherever mask [b, t] is False."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(x.shape, generator=g) * 100
    return torch.where(mask.unsqueeze(-1), x, noise)


def _perturb_dict(masks):
    def hook(module, inputs, output):
        z, extra = output
        return {m: _garbage_at(z[m], masks[m], i) for i, m in enumerate(MODALITIES)}, extra

    return hook


@pytest.mark.parametrize("layout", ["aligned", "unaligned"])
def test_masked_positions_inside_the_model_never_reach_the_prediction(layout):
    model = _model(n_layers=2)
    batch = drop_frames(random_batch(layout, b=4, seed=3), 0.4, torch.Generator().manual_seed(5))
    with torch.no_grad():
        clean = model(batch)
    handles = [model.rpm[m].register_forward_hook(
        lambda mod, inp, out, m=m: _garbage_at(out, batch.masks[m], 1)) for m in MODALITIES]
    handles.append(model.dwam.register_forward_hook(_perturb_dict(batch.masks)))
    handles.append(model.mmt.layers[0].register_forward_hook(_perturb_dict(batch.masks)))  # between MMT layers
    handles.append(model.mmt.register_forward_hook(_perturb_dict(batch.masks)))  # before the masked GAP
    try:
        with torch.no_grad():
            noisy = model(batch)
    finally:
        for h in handles:
            h.remove()
    torch.testing.assert_close(noisy.prediction, clean.prediction, atol=1e-5, rtol=0)
    torch.testing.assert_close(noisy.fused, clean.fused, atol=1e-5, rtol=0)


def test_the_hooks_do_change_available_positions():
    """The check above can fail: the same perturbation on every position changes the prediction."""
    model = _model()
    batch = random_batch("aligned", b=3)
    with torch.no_grad():
        clean = model(batch).prediction
    none = {m: torch.zeros_like(batch.masks[m]) for m in MODALITIES}
    h = model.dwam.register_forward_hook(_perturb_dict(none))
    try:
        with torch.no_grad():
            assert not torch.allclose(model(batch).prediction, clean, atol=1e-3)
    finally:
        h.remove()


@pytest.mark.parametrize("subset", [("text",), ("audio", "vision")])
def test_an_absent_modality_pools_to_exactly_zero(subset):
    model = _model()
    with torch.no_grad():
        out = model(keep_only(random_batch("unaligned", b=3), subset))
    d = model.config.d_model
    for j, m in enumerate(MODALITIES):
        if m not in subset:
            assert torch.count_nonzero(out.modality_reps[m]) == 0
            assert torch.count_nonzero(out.fused[:, j * d:(j + 1) * d]) == 0
        else:
            assert torch.count_nonzero(out.modality_reps[m]) > 0


def test_rem_gate_is_hard_forward_and_gives_rho_a_gradient():
    x = torch.tensor([0.05, 0.1, 0.3, 0.0])
    rho = torch.tensor(0.1, requires_grad=True)
    gate = straight_through_gate(x, rho, sharpness=10.0)
    assert gate.tolist() == [0.0, 1.0, 1.0, 0.0]  # exactly 1[x >= rho]
    (gate * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert rho.grad is not None and rho.grad.item() != 0.0
    # through the whole REM as well
    torch.manual_seed(0)
    rem = REM(6, 8, dropout=0.0)
    xs = torch.randn(2, 5, 6)
    mask = torch.ones(2, 5, dtype=torch.bool)
    rem(xs, mask, torch.tensor([5, 5])).pow(2).sum().backward()
    assert rem.rho.grad is not None and rem.rho.grad.item() != 0.0


def test_masked_statistics_by_hand():
    x = torch.tensor([[[1.0], [3.0], [100.0]]])
    mean, var = masked_mean_var(x, torch.tensor([[True, True, False]]))
    assert mean.item() == 2.0 and var.item() == 1.0


def test_rem_statistics_use_only_available_frames():
    torch.manual_seed(0)
    rem = REM(6, 8, dropout=0.0).eval()
    x = torch.randn(3, 7, 6)
    lengths = torch.tensor([7, 5, 3])
    mask = torch.arange(7)[None, :] < lengths[:, None]
    mask[0, 2] = False  # a dropped frame inside the length
    x = x * mask.unsqueeze(-1)
    with torch.no_grad():
        clean = rem(x, mask, lengths)
        # garbage in both BiLSTM branches' outputs at unavailable frames: the per-sample mean/std (eq. 4-5, 10)
        # and so every available frame's output stay the same
        hs = [branch.register_forward_hook(lambda mod, inp, out: _garbage_at(out, mask, 2))
              for branch in (rem.unify, rem.filter)]
        try:
            noisy = rem(x, mask, lengths)
        finally:
            for h in hs:
                h.remove()
    torch.testing.assert_close(noisy[mask], clean[mask], atol=1e-4, rtol=1e-5)


def test_relative_offsets_are_i_minus_j_on_aligned_data_and_by_hand_when_unaligned():
    lens = torch.tensor([6, 4])
    r = relative_offsets(lens, lens, 6, 6)
    i = torch.arange(6)
    expect = i[:, None] - i[None, :]
    assert torch.equal(r[0], expect)
    assert torch.equal(r[1, :4, :4], expect[:4, :4])
    # query of 2 frames against keys of 4: normalised times (0.25, 0.75) and (0.125, ..., 0.875), in steps of 2
    r = relative_offsets(torch.tensor([2]), torch.tensor([4]), 2, 4)
    assert r[0].tolist() == [[0, 0, -1, -1], [1, 1, 0, 0]]


def test_time_bias_is_zero_beyond_the_window():
    bias = TimeWindowBias(n_heads=2, window=2)
    with torch.no_grad():
        bias.s.copy_(torch.arange(1.0, 11.0).view(2, 5))  # s(r) = r + 3 on head 0, r + 8 on head 1
    i = torch.arange(7)
    offsets = (i[:, None] - i[None, :])[None]  # 1 i j
    out = bias(offsets)  # 1 h i j
    inside = offsets.abs() <= 2
    assert (out[0][:, ~inside[0]] == 0).all()
    assert torch.equal(out[0, 0][inside[0]], (offsets[0][inside[0]] + 3).float())
    assert torch.equal(out[0, 1][inside[0]], (offsets[0][inside[0]] + 8).float())


def test_time_bias_gradient_equals_plain_indexing():
    # the bias's backward is a per-head histogram (bincount), not autograd's index_put: same gradient
    torch.manual_seed(0)
    bias = TimeWindowBias(n_heads=3, window=2)
    with torch.no_grad():
        bias.s.normal_()
    offsets = relative_offsets(torch.tensor([7, 4]), torch.tensor([5, 9]), 7, 9)  # 2 i j
    upstream = torch.randn(2, 3, 7, 9)
    (bias(offsets) * upstream).sum().backward()
    s = bias.s.detach().clone().requires_grad_(True)
    inside = (offsets.abs() <= 2).unsqueeze(0).float()
    plain = (s[:, offsets.clamp(-2, 2) + 2] * inside).permute(1, 0, 2, 3)  # b h i j
    torch.testing.assert_close(bias(offsets), plain)
    (plain * upstream).sum().backward()
    torch.testing.assert_close(bias.s.grad, s.grad)
    assert bias.s.grad.abs().sum() > 0


def test_gamma_is_one_when_the_third_modality_is_absent():
    model = _model()
    with torch.no_grad():
        for lin in model.mmt.layers[0].w_gamma.values():
            lin.weight.normal_(0, 1.0)
    zeroed = _model()
    zeroed.load_state_dict(model.state_dict())
    with torch.no_grad():
        for lin in zeroed.mmt.layers[0].w_gamma.values():
            lin.weight.zero_()  # gamma = 1 everywhere
    full = random_batch("unaligned", b=3)
    no_vision = keep_only(full, ("text", "audio"))
    with torch.no_grad():
        # text's keys (audio) and audio's keys (text) take gamma from vision: absent, so gamma = 1
        torch.testing.assert_close(model(no_vision).prediction, zeroed(no_vision).prediction, atol=1e-6, rtol=0)
        # the comparison can fail: with vision present, gamma differs from 1
        assert not torch.allclose(model(full).prediction, zeroed(full).prediction, atol=1e-4)


def test_dwam_gates_follow_the_partner_frame_by_frame_on_aligned_data():
    torch.manual_seed(0)
    b, t, d = 2, 6, 8
    z = {m: torch.randn(b, t, d) for m in MODALITIES}
    masks = {m: torch.ones(b, t, dtype=torch.bool) for m in MODALITIES}
    lengths = {m: torch.full((b,), t) for m in MODALITIES}
    permuted = dict(z, audio=z["audio"][:, torch.randperm(t)])
    framewise, pooled = DWAM(d, framewise=True), DWAM(d, framewise=False)
    pooled.load_state_dict(framewise.state_dict())
    with torch.no_grad():
        _, g = framewise(z, masks, lengths)
        _, gp = framewise(permuted, masks, lengths)
        assert not torch.allclose(g["text>audio"], gp["text>audio"])
        torch.testing.assert_close(g["text>vision"], gp["text>vision"])  # other partner untouched
        # pooled gates read the partner's mean, which a permutation leaves unchanged
        _, p1 = pooled(z, masks, lengths)
        _, p2 = pooled(permuted, masks, lengths)
        torch.testing.assert_close(p1["text>audio"], p2["text>audio"], atol=1e-6, rtol=0)
        # a dropped partner frame contributes zeros: gate of frame i = ReLU(W[:, :d] z_m + b) when n's frame i is off
        off = dict(masks, audio=torch.zeros(b, t, dtype=torch.bool))
        _, g_off = framewise(z, off, lengths)
        lin = framewise.gate["text>audio"]
        torch.testing.assert_close(g_off["text>audio"], torch.relu(z["text"] @ lin.weight[:, :d].T + lin.bias))


def test_dwam_pools_when_lengths_differ():
    torch.manual_seed(0)
    dwam = DWAM(8)
    z = {"text": torch.randn(2, 5, 8), "audio": torch.randn(2, 9, 8), "vision": torch.randn(2, 5, 8)}
    masks = {m: torch.ones(2, v.shape[1], dtype=torch.bool) for m, v in z.items()}
    # text and vision share the padded length, but only sample 0 has equal unpadded lengths
    lengths = {"text": torch.tensor([5, 5]), "audio": torch.tensor([9, 9]), "vision": torch.tensor([5, 3])}
    masks["vision"][1, 3:] = False
    with torch.no_grad():
        _, g = dwam(z, masks, lengths)
        lin = dwam.gate["text>vision"]
        w_own, w_partner = lin.weight[:, :8], lin.weight[:, 8:]
        own = z["text"] @ w_own.T
        frame0 = torch.relu(own[0] + z["vision"][0] @ w_partner.T + lin.bias)
        pooled1 = torch.relu(own[1] + z["vision"][1, :3].mean(0) @ w_partner.T + lin.bias)
        torch.testing.assert_close(g["text>vision"][0], frame0)
        torch.testing.assert_close(g["text>vision"][1], pooled1)
