"""`videolights pretrain-data` end to end with tiny random BLIP / CLIP / BLIP-2 models on generated videos:
single process, resume, and two CPU processes under `accelerate launch` (sharded by split_between_processes)."""
import json, os, subprocess, sys
from pathlib import Path

import pytest

ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from videolights.testing.tiny import make_tiny_blip
    from videolights.testing.tiny import make_tiny_clip, make_tiny_blip2
    d = tmp_path_factory.mktemp("models")
    tb = make_tiny_blip(d)
    return ["--caption-model", tb["caption"], "--itm-model", tb["itm"], "--clip-model", str(make_tiny_clip(d / "clip")),
            "--blip2-model", str(make_tiny_blip2(d / "blip2")), "--frame-size", "32", "--device", "cpu"]


def _videos(d, n=3):
    from videolights.testing.tiny import make_test_video
    for i in range(n): make_test_video(d / f"vid{i}.mp4", seconds=10 + 4 * i, fps=4, size=32, seed=i)
    return d


def _check_output(out, n_videos):
    from videolights.data.store import load_dataset
    recs = [json.loads(l) for l in (out / "pretrain.jsonl").read_text().splitlines()]
    dd = load_dataset(out / "dataset")
    assert len(dd["train"]) == len(recs) and len(dd["videos"]) == n_videos
    for r in recs:
        (st, ed), = r["relevant_windows"]
        assert 0 <= st < ed <= r["duration"] and r["query"]
        assert len(r["saliency_scores"]) == len(r["relevant_clip_ids"]) >= 1
        assert all(2.718 <= s[0] <= 12.19 for s in r["saliency_scores"])
    return recs


def test_pretrain_data_cli_and_resume(tmp_path, models, videolights_cmd):
    vids = _videos(tmp_path / "videos")
    out = tmp_path / "pt"
    r = subprocess.run(videolights_cmd + ["pretrain-data", "--videos", str(vids), "--out", str(out)] + models,
                       capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr
    recs = _check_output(out, 3)
    assert len(recs) == 1 + 1 + 2  # round(10/10), round(14/10), round(18/10) windows
    # resume: finished videos are skipped (records untouched), a new one is processed
    mt = (out / "records" / "vid0.jsonl").stat().st_mtime_ns
    from videolights.testing.tiny import make_test_video
    make_test_video(vids / "new.mp4", seconds=10, fps=4, size=32, seed=9)
    r = subprocess.run(videolights_cmd + ["pretrain-data", "--videos", str(vids), "--out", str(out)] + models,
                       capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr
    assert (out / "records" / "vid0.jsonl").stat().st_mtime_ns == mt
    _check_output(out, 4)


def test_pretrain_data_bad_folder(tmp_path, videolights_cmd):
    r = subprocess.run(videolights_cmd + ["pretrain-data", "--videos", str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 2 and "not found" in r.stderr


@pytest.mark.slow
def test_pretrain_data_two_processes(tmp_path, models):
    "Two CPU processes under accelerate launch split the videos; the merged output equals a full dataset."
    vids = _videos(tmp_path / "videos", n=4)
    out = tmp_path / "pt2"
    exe = Path(sys.executable).parent / "videolights"
    cmd = [str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", str(exe), "pretrain-data", "--videos", str(vids), "--out", str(out)] + models
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(ENV, ACCELERATE_USE_CPU="1"), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    recs = _check_output(out, 4)
    assert sorted({r["vid"] for r in recs}) == ["vid0", "vid1", "vid2", "vid3"]
    assert len(recs) == 1 + 1 + 2 + 2
