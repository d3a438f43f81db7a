"""Files written before the subpackage move still work: a dataset, checkpoints and a run folder that resumes.

tests/fixtures/legacy/ was written by the flat-module code (commit d88d67d) with tests/fixtures/legacy/make_legacy.py.
"""
import json
import shutil
import subprocess
from pathlib import Path

import torch

from videolights.core.config import VideoLightsConfig
from videolights.data.store import check_blocks, load_dataset
from videolights.model.checkpoint import load_checkpoint

LEGACY = Path(__file__).parent / "fixtures" / "legacy"


def test_legacy_dataset_loads():
    dd = load_dataset(LEGACY / "dataset")
    assert (len(dd["train"]), len(dd["val"])) == (6, 2)
    check_blocks(dd.manifest, VideoLightsConfig.from_preset("tiny"))


def test_legacy_checkpoints_load_with_their_config():
    saved = VideoLightsConfig.load(LEGACY / "run" / "config.json")
    for name in ("best", "last"):
        model, cfg, info = load_checkpoint(LEGACY / "run" / name)
        assert cfg == saved
        assert all(torch.isfinite(p).all() for p in model.parameters())


def test_legacy_run_is_refused_by_name_and_its_checkpoint_still_fine_tunes(tmp_path, videolights_cmd):
    "A run made by the old code keeps its pickled state: --resume refuses it in one line (never unpickled, #18) and"
    " names --init-from, which loads the run's safetensors checkpoint."
    run = tmp_path / "run"
    shutil.copytree(LEGACY / "run", run)
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    r = subprocess.run(videolights_cmd + ["train", "--preset", "tiny", "--dataset", str(LEGACY / "dataset"),
                                          "--output-dir", str(run), "--resume", "--max-steps", "4"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1 and "--overwrite" in r.stderr, r.stderr
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before  # nothing of the old run touched
    out = tmp_path / "fine"
    r = subprocess.run(videolights_cmd + ["train", "--preset", "tiny", "--dataset", str(LEGACY / "dataset"),
                                          "--output-dir", str(out), "--init-from", str(run / "last"), "--max-steps", "4"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] > 0 and summary["status"] in ("completed", "max_steps"), summary
    assert (out / "best" / "model.safetensors").exists()
