"""The criterion on real model outputs (tiny config): the loss dict the trainer sees, finite gradients, and the
parameters the original also leaves without a gradient."""
import pytest
import torch
from videolights.core.config import VideoLightsConfig
from videolights.core.errors import VideoLightsError
from videolights.criterion.losses import build_criterion
from videolights.model import videolights as model_mod


def batch(cfg, B=3, Lv=12, Lt=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    vm = (torch.arange(Lv)[None] < torch.tensor([Lv, 9, 6])[:, None]).float()
    tm = (torch.arange(Lt)[None] < torch.tensor([Lt, 3, 4])[:, None]).float()
    inp = dict(src_txt=torch.randn(B, Lt, cfg.t_feat_dim, generator=g) * tm[..., None], src_txt_mask=tm,
               src_vid=torch.randn(B, Lv, cfg.v_feat_dim, generator=g) * vm[..., None], src_vid_mask=vm)
    gt = torch.randint(0, 13, (B, Lv), generator=g).float() * vm
    gt[:, 1] = 6.
    k = 1 if cfg.hd_only else 2
    tg = {"saliency_pos_labels": torch.ones(B, k, dtype=torch.long), "saliency_neg_labels": torch.zeros(B, k, dtype=torch.long),
          "saliency_pos_index": (gt > 0).long(), "saliency_all_labels": gt}
    if not cfg.hd_only:
        tg["span_labels"] = [{"spans": torch.tensor([[0.3, 0.2], [0.7, 0.1]])[: 1 + b % 2]} for b in range(B)]
    return inp, tg


def test_tiny_model_losses_and_grads():
    torch.manual_seed(0)
    cfg = VideoLightsConfig.from_preset("tiny")
    model = model_mod.build_model(cfg)
    inp, tg = batch(cfg)
    crit = build_criterion(cfg)
    losses = crit(model(**inp), tg, 1)
    assert set(crit.weight_dict) == {k for k in losses if not k.startswith("class_error")}
    total = crit.total(losses)
    assert torch.isfinite(total)
    total.backward()
    no_grad = {n.split(".")[0] if n.startswith(("txt_position", "contrastive")) else n for n, p in model.named_parameters()
               if p.grad is None}
    # as in the original: the unused Bi-CMF norm2, the unused text position embedding, the video contrastive projection
    assert no_grad == {"transformer.t2v_encoder.layers.0.norm2.weight", "transformer.t2v_encoder.layers.0.norm2.bias",
                       "txt_position_embed", "contrastive_align_projection_vid"}
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_nan_output_is_named():
    cfg = VideoLightsConfig.from_preset("tiny")
    model = model_mod.build_model(cfg)
    inp, tg = batch(cfg)
    out = model(**inp)
    out["saliency_scores"] = out["saliency_scores"].detach().clone()
    out["saliency_scores"][2, 3] = float("nan")
    with pytest.raises(VideoLightsError, match="'saliency_scores' has NaN/inf at batch index 2"):
        build_criterion(cfg)(out, tg, 0)
