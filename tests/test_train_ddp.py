"""2-process CPU DDP (`accelerate launch`) against a 1-process run that accumulates gradients over the same micro-batches."""
import json, os, subprocess, sys
from pathlib import Path

import pytest

from test_train import TINY_BLOCKS, ENV, CMD, weights

BIN = Path(sys.executable).parent
# dropout off: the two processes draw their dropout masks from separate RNG streams, the accumulating process from one
NODROP = ["--set", "model.input_dropout=0", "--set", "model.dropout=0", "--set", "model.fra_dropout=0"]


@pytest.mark.slow
def test_ddp_two_processes_match_accumulation(tmp_path):
    """`bsz=8`: DDP gives each of 2 processes micro-batches of 4 (process p gets micro-batches p, p+2, ...); the 1-process run
    uses `grad_accum=2` over the same micro-batches of 4. DDP averages the two gradients ((g0 + g1) / 2) and accumulation sums
    the halves (g0 / 2 + g1 / 2); both are exact power-of-two scalings, so in float32 they differ at most by the order of the
    all-reduce sum: we allow 1e-5 absolute on the weights after 12 steps and 0.01 (the rounding of the reported metrics) on metrics.
    (A 1-process run with one batch of 8 would differ: padding and the batch-global saliency normalisation depend on the batch.)"""
    from videolights.data.synthetic import make_synthetic
    ds = make_synthetic("small", out=tmp_path / "ds", n_train=48, n_val=24, **TINY_BLOCKS)
    common = ["--preset", "tiny", "--dataset", str(ds), "--set", "train.n_epoch=2", "--set", "train.bsz=8", *NODROP]
    r1 = subprocess.run(CMD + ["train", *common, "--set", "train.grad_accum=2", "--output-dir", str(tmp_path / "one")],
                        capture_output=True, text=True, env=ENV)
    assert r1.returncode == 0, r1.stderr[-3000:]
    launch = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517", "-m", "videolights.train"]
    r2 = subprocess.run(launch + [*common, "--output-dir", str(tmp_path / "ddp")], capture_output=True, text=True,
                        env=dict(ENV, ACCELERATE_USE_CPU="1"), timeout=900)
    assert r2.returncode == 0, r2.stdout[-2000:] + r2.stderr[-3000:]
    one, ddp = (json.loads((tmp_path / d / "train_summary.json").read_text()) for d in ("one", "ddp"))
    assert (one["processes"], ddp["processes"]) == (1, 2)          # really two processes (not a silent single one)
    assert one["steps"] == ddp["steps"] == 12
    wa, wb = weights(tmp_path / "one" / "last"), weights(tmp_path / "ddp" / "last")
    dev = max((wa[k] - wb[k]).abs().max().item() for k in wa)
    assert dev <= 1e-5, dev
    ma, mb = (json.loads((tmp_path / d / "metrics.json").read_text())["brief"] for d in ("one", "ddp"))
    assert ma.keys() == mb.keys() and all(abs(ma[k] - mb[k]) <= 0.01 for k in ma), (ma, mb)
    la, lb = ([json.loads(l) for l in (tmp_path / d / "log.jsonl").read_text().splitlines()] for d in ("one", "ddp"))
    assert all(abs(a["loss_overall"] - b["loss_overall"]) <= 1e-4 * abs(a["loss_overall"]) for a, b in zip(la, lb))
