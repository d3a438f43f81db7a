"""`videolights convert` end to end: an original-layout checkpoint file -> a checkpoint directory that loads."""
import argparse, subprocess
import torch
from videolights.config import VideoLightsConfig
from videolights.model import build_model
from videolights.convert import to_official
from videolights.checkpoint import load_checkpoint


def test_convert_cli(tmp_path, videolights_cmd):
    cfg = VideoLightsConfig.preset("tiny")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    opt = argparse.Namespace(dset_name="hl", ctx_mode="video_tef", hidden_dim=32, nheads=4, enc_layers=1, dec_layers=2,
                             bicmf_layers=1, dim_feedforward=64, num_queries=5, contrastive_hdim=16, n_input_proj=2,
                             device=torch.device("cpu"), seed=7)
    torch.save({"model": to_official(model, cfg), "opt": opt, "epoch": 1}, tmp_path / "official.ckpt")
    r = subprocess.run([*videolights_cmd, "convert", "--checkpoint", str(tmp_path / "official.ckpt"), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    m2, cfg2, info = load_checkpoint(tmp_path / "out")
    assert cfg2.model == cfg.model and cfg2.train.seed == 7
    for k, v in model.state_dict().items(): assert torch.equal(v, m2.state_dict()[k]), k
    # a missing file is one clear line and exit code 2
    r = subprocess.run([*videolights_cmd, "convert", "--checkpoint", str(tmp_path / "nope.ckpt"), "--out", str(tmp_path / "o2")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "not found" in r.stderr + r.stdout
