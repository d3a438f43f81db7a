"""`videolights convert` end to end: an original-layout checkpoint file -> a checkpoint directory that loads, and back."""
import subprocess
import torch
from videolights.core.config import VideoLightsConfig, override
from videolights.model.videolights import build_model
from videolights.model.convert import to_official, official_options, load_official_file
from videolights.model.checkpoint import load_checkpoint


def test_convert_cli(tmp_path, videolights_cmd):
    cfg = VideoLightsConfig.from_preset("tiny")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    cfg = override(cfg, ["train.seed=7"])
    to_official(model, cfg, path=tmp_path / "official.ckpt", epoch=1)   # the original's complete file: model, opt, epoch
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


def test_convert_cli_to_official(tmp_path, videolights_cmd):
    "A checkpoint directory -> the original's complete file {'model', 'opt', 'epoch'}, identical to converting in memory."
    cfg = VideoLightsConfig.from_preset("tiny", "train.lr=3e-4")
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    to_official(model, cfg, path=tmp_path / "official.ckpt", epoch=4)
    r = subprocess.run([*videolights_cmd, "convert", "--checkpoint", str(tmp_path / "official.ckpt"), "--out", str(tmp_path / "ours")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([*videolights_cmd, "convert", "--to-official", "--checkpoint", str(tmp_path / "ours"),
                        "--out", str(tmp_path / "back" / "model_best.ckpt")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    ck = load_official_file(tmp_path / "back" / "model_best.ckpt")
    assert sorted(ck) == ["epoch", "model", "opt"] and ck["epoch"] == 4
    assert vars(ck["opt"]) == vars(official_options(cfg)) and ck["opt"].lr == 3e-4 and ck["opt"].dset_name == "hl"
    ref = to_official(model, cfg)
    assert ck["model"].keys() == ref.keys() and all(torch.equal(v, ref[k]) for k, v in ck["model"].items())
    # our directory is expected; an original file given by mistake is one clear line and exit code 2
    r = subprocess.run([*videolights_cmd, "convert", "--to-official", "--checkpoint", str(tmp_path / "official.ckpt"),
                        "--out", str(tmp_path / "x.ckpt")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "official.ckpt" in r.stderr + r.stdout and not (tmp_path / "x.ckpt").exists()
