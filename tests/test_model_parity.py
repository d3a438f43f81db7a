"""Parity of `videolights.model.videolights` with the original VideoLights code.

The fixtures in tests/fixtures/model/ were made by running the original code (github dpaul06/VideoLights @ 76308bb,
only its hard-coded `.cuda()` changed, outside this repository) in eval mode on weights produced by `seeded_weights`
below and exported with `videolights.model.convert.to_official`. Each file stores the inputs (float16, fed as float32
to both sides) and the original's outputs; the weights are rebuilt here from the seed, so no weights are stored.
Generator (in this repository; the original's checkout is its argument), from the repository root:

    .venv/bin/python tests/fixtures/model/make_fixtures.py --original /path/to/VideoLights
"""
import json, zlib
from pathlib import Path
import pytest
import torch
from videolights.core.config import VideoLightsConfig
from videolights.model.videolights import build_model
from videolights.model.convert import to_official, official_key_to_ours

FIX = Path(__file__).parent / "fixtures" / "model"
ATOL = RTOL = 1e-5

# name -> (preset, overrides); tests/fixtures/model/make_fixtures.py --original PATH ran the original on these
CASES = {
    "qvhl_full": ("qvhighlights", []),
    "small": ("tiny", ["model.hidden_dim=256", "model.nheads=8", "model.bicmf_layers=2", "model.enc_layers=1",
                       "model.dec_layers=2", "model.num_queries=5", "model.dim_feedforward=64"]),
    "small_nofra": ("tiny", ["model.hidden_dim=256", "model.nheads=8", "model.bicmf_layers=0", "model.enc_layers=1",
                             "model.dec_layers=2", "model.num_queries=5", "model.dim_feedforward=64", "model.fra=false",
                             "model.mr2hd=false", "loss.contrastive_align_loss=false", "model.n_input_proj=1"]),
}


def case_config(name):
    preset, ov = CASES[name]
    return VideoLightsConfig.from_preset(preset, *ov)


def seeded_weights(model, cfg, seed):
    """Deterministic weights keyed by parameter name (independent of module construction order): Xavier-uniform for
    matrices, 1 +- 0.1 for norm scales, small non-zero biases, 0.25 +- 0.05 for PReLU slopes."""
    sd = {}
    for k, v in model.state_dict().items():
        g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(k.encode()))
        if k.endswith("activation.weight"): t = 0.25 + 0.05 * torch.randn(v.shape, generator=g)
        elif v.dim() >= 2 and not k.startswith("query_embed"):
            fan_out, fan_in = v.shape[0], v[0].numel()
            a = (6.0 / (fan_in + fan_out)) ** 0.5
            t = (torch.rand(v.shape, generator=g) * 2 - 1) * a
        elif any(s in k for s in ("norm", "LayerNorm")) and k.endswith("weight"): t = 1 + 0.1 * torch.randn(v.shape, generator=g)
        elif k.endswith("bias") or "bias_" in k: t = 0.02 * torch.randn(v.shape, generator=g)
        else: t = torch.randn(v.shape, generator=g)   # global token / pos, anchors, FRA vectors
        sd[k] = t.to(v.dtype)
    model.load_state_dict(sd)
    return model


def make_inputs(cfg, lv, lt, seed):
    "A padded batch like the original's collate: L2-normalised feature blocks, TEF, zeros at padding."
    g = torch.Generator().manual_seed(seed)
    B, Lv, Lt = len(lv), max(lv), max(lt)
    vm = (torch.arange(Lv)[None] < torch.tensor(lv)[:, None]).float()
    tm = (torch.arange(Lt)[None] < torch.tensor(lt)[:, None]).float()
    vb = [torch.nn.functional.normalize(torch.randn(B, Lv, d, generator=g), dim=-1) for _, d in cfg.data.video_blocks]
    if cfg.data.use_tef:
        L = torch.tensor(lv, dtype=torch.float32)[:, None]
        i = torch.arange(Lv, dtype=torch.float32)[None]
        vb.append(torch.stack([i / L, (i + 1) / L], -1))
    tb = [torch.nn.functional.normalize(torch.randn(B, Lt, d, generator=g), dim=-1) for _, d in cfg.data.text_blocks]
    vid, txt = torch.cat(vb, -1) * vm[..., None], torch.cat(tb, -1) * tm[..., None]
    # stored as float16, so both sides see exactly these values
    return dict(src_txt=txt.half().float(), src_txt_mask=tm, src_vid=vid.half().float(), src_vid_mask=vm)


def flat_outputs(out):
    "Output dict -> {name: tensor} with aux outputs as aux_outputs.{i}.{key}."
    flat = {k: v for k, v in out.items() if torch.is_tensor(v)}
    for i, aux in enumerate(out.get("aux_outputs", [])):
        flat.update({f"aux_outputs.{i}.{k}": v for k, v in aux.items()})
    return flat


def load_fixture(name):
    from safetensors.torch import load_file
    from safetensors import safe_open
    p = FIX / f"{name}.safetensors"
    with safe_open(str(p), "pt") as f: meta = json.loads(f.metadata()["meta"])
    return load_file(str(p)), meta


def run_case(name, *overrides):
    t, meta = load_fixture(name)
    cfg = VideoLightsConfig.from_preset(CASES[name][0], *CASES[name][1], *overrides)
    torch.manual_seed(0)
    model = seeded_weights(build_model(cfg), cfg, meta["seed"]).eval()
    inp = {k: t["input." + k].float() for k in ("src_txt", "src_txt_mask", "src_vid", "src_vid_mask")}
    with torch.no_grad(): out = flat_outputs(model(**inp))
    ref = {k[len("output."):]: v for k, v in t.items() if k.startswith("output.")}
    return out, ref, meta


def deviations(out, ref):
    "{key: (max abs, max rel)} over the reference keys."
    res = {}
    for k, r in ref.items():
        o = out[k].float()
        d = (o - r).abs()
        res[k] = (d.max().item(), (d / r.abs().clamp(min=1e-6)).max().item())
    return res


def assert_parity(out, ref):
    assert set(out) == set(ref), f"output keys differ: only ours {set(out) - set(ref)}, only original {set(ref) - set(out)}"
    for k, r in ref.items():
        assert out[k].shape == r.shape, f"{k}: shape {tuple(out[k].shape)} vs original {tuple(r.shape)}"
        torch.testing.assert_close(out[k].float(), r, atol=ATOL, rtol=RTOL, msg=lambda m: f"{k}: {m}")


@pytest.mark.parametrize("name", ["small", "small_nofra"])
def test_parity_small(name):
    out, ref, meta = run_case(name)
    assert_parity(out, ref)


@pytest.mark.parametrize("switches", [["model.batched_neg_pass=true"], ["model.use_sdpa=true"],
                                      ["model.quirk_neg_full_decoder=false", "model.batched_neg_pass=true", "model.use_sdpa=true"],
                                      # the switches are on by default (nbs/explanations/speed): this is the original's code path
                                      ["model.quirk_neg_full_decoder=true", "model.batched_neg_pass=false", "model.use_sdpa=false"],
                                      ["model.batched_neg_pass=false"], ["model.use_sdpa=false"]])
def test_parity_speed_switches(switches):
    "The speed switches keep the original's outputs within tolerance."
    out, ref, meta = run_case("small", *switches)
    assert_parity(out, ref)


@pytest.mark.slow
def test_parity_qvhighlights_full():
    out, ref, meta = run_case("qvhl_full")
    assert meta["lv"] == [60, 37, 9, 52]
    assert_parity(out, ref)


def test_seeded_weights_cover_every_official_key():
    "The fixture weights are keyed by our names; every original key maps onto one of them (249 keys at full size)."
    cfg = case_config("qvhl_full")
    model = build_model(cfg)
    off = to_official(model, cfg)
    assert len(off) == 249 and sum(v.numel() for v in off.values()) == 10_796_263
    assert {official_key_to_ours(k) for k in off} == set(model.state_dict())


def test_quirk_flags_change_outputs_vs_original():
    "Switching a model quirk off must move the outputs away from the original's (the fixture detects each quirk)."
    base_out, ref, _ = run_case("small")
    for flag in ("quirk_bicmf_mask_order", "quirk_bicmf_ffn_no_residual", "quirk_fra_denormal_mask"):
        t, meta = load_fixture("small")
        cfg = VideoLightsConfig.from_preset(CASES["small"][0], *CASES["small"][1], f"model.{flag}=false")
        model = seeded_weights(build_model(cfg), cfg, meta["seed"]).eval()
        inp = {k: t["input." + k].float() for k in ("src_txt", "src_txt_mask", "src_vid", "src_vid_mask")}
        with torch.no_grad(): out = flat_outputs(model(**inp))
        assert (out["saliency_scores"] - ref["saliency_scores"]).abs().max() > 1e-4, flag


def test_from_official_roundtrip(tmp_path):
    "A synthetic 'official' checkpoint file (as the original trainer saves it) converts back and reproduces the outputs."
    from videolights.model.convert import from_official, official_options
    t, meta = load_fixture("small")
    cfg = case_config("small")
    model = seeded_weights(build_model(cfg), cfg, meta["seed"]).eval()
    torch.save({"model": to_official(model, cfg), "opt": official_options(cfg), "epoch": 3,
                "optimizer": torch.optim.AdamW(model.parameters()).state_dict()}, tmp_path / "official.ckpt")
    m2, cfg2 = from_official(tmp_path / "official.ckpt")
    assert cfg2.model == cfg.model and cfg2.v_feat_dim == cfg.v_feat_dim and cfg2.t_feat_dim == cfg.t_feat_dim
    inp = {k: t["input." + k].float() for k in ("src_txt", "src_txt_mask", "src_vid", "src_vid_mask")}
    with torch.no_grad(): out = flat_outputs(m2(**inp))
    assert_parity(out, {k[len("output."):]: v for k, v in t.items() if k.startswith("output.")})


@pytest.mark.slow
def test_parity_qvhighlights_full_speed_switches():
    "Full config on the original's code path (the speed switches are on by default): still the original's outputs."
    out, ref, meta = run_case("qvhl_full", "model.batched_neg_pass=false", "model.use_sdpa=false", "model.quirk_neg_full_decoder=true")
    assert_parity(out, ref)
