"""`videolights convert` end to end: an original-layout checkpoint file -> a checkpoint directory that loads, and back.

`original_train_best.ckpt.xz` (tests/fixtures/model/make_original_checkpoint.py --original PATH) is a file that the
ORIGINAL's own `train.py` wrote (`{"model", "optimizer", "lr_scheduler", "epoch", "opt"}` with its parsed Namespace),
with the original model's outputs beside it: the other tests here build their "official" file with this package's
`to_official`, which could share a mistake with `from_official`."""
import hashlib
import json
import lzma
import subprocess
from pathlib import Path
import pytest
import torch
from videolights.core.config import VideoLightsConfig, override
from videolights.model.videolights import build_model
from videolights.model.convert import to_official, official_options, load_official_file
from videolights.model.checkpoint import load_checkpoint
from videolights.model.convert import from_official
from videolights.testing.compare import test_close

MODEL_FIX = Path(__file__).parent / "fixtures" / "model"


@pytest.fixture(scope="module")
def original_train_file(tmp_path_factory):
    "The checkpoint the original's train.py wrote (unpacked to a temporary model_best.ckpt) and its JSON record."
    meta = json.loads((MODEL_FIX / "original_train_best.json").read_text())
    raw = lzma.decompress((MODEL_FIX / "original_train_best.ckpt.xz").read_bytes())
    assert hashlib.sha256(raw).hexdigest() == meta["sha256"]
    path = tmp_path_factory.mktemp("original") / "model_best.ckpt"
    path.write_bytes(raw)
    return path, meta


def assert_original_outputs(model, meta):
    "`model` gives the original model's outputs on the fixture's inputs (within 1e-5, as the model-parity test)."
    x = {k: torch.tensor(v) for k, v in meta["inputs"].items()}
    with torch.no_grad():
        out = model.eval()(**x)
    for k, v in meta["outputs"].items():
        test_close(out[k], v, eps=1e-5)


def test_from_official_reads_what_the_original_trainer_wrote(original_train_file):
    path, meta = original_train_file
    assert meta["keys"] == ["epoch", "lr_scheduler", "model", "opt", "optimizer"] and meta["epoch"] == -1
    model, cfg = from_official(path)
    M = cfg.model
    assert (M.hidden_dim, M.nheads, M.enc_layers, M.dec_layers, M.bicmf_layers, M.num_queries) == (256, 2, 1, 2, 1, 3)
    assert cfg.loss.hard_pos_neg and cfg.loss.contrastive_align_loss and M.mr2hd and cfg.v_feat_dim == 28
    assert_original_outputs(model, meta)


def test_convert_cli_reads_what_the_original_trainer_wrote(original_train_file, tmp_path, videolights_cmd):
    path, meta = original_train_file
    r = subprocess.run([*videolights_cmd, "convert", "--checkpoint", str(path), "--out", str(tmp_path / "conv")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    model, cfg, info = load_checkpoint(tmp_path / "conv")
    assert info["provenance"]["extra"]["epoch"] == -1 and cfg.model.num_queries == 3
    assert_original_outputs(model, meta)


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
