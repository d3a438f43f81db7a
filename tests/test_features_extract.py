"""`videolights features extract` end to end, with tiny random SlowFast / CLIP / BLIP-2 models and generated videos:
the official layout for the good videos, a broken one named with its reason (exit 1), a killed run resumed without
redoing finished videos; then a SlowFast + CLIP + BLIP-2 checkpoint: its extractor set (`--checkpoint`) straight into
a dataset, and `predict` on a video."""
import json, os, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest

ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1")
DIRS = ("slowfast_features", "clip_features", "blip_video_features")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from videolights.testing.tiny import make_slowfast_demo_checkpoint, make_test_video
    d = tmp_path_factory.mktemp("extract")
    ckpt = make_slowfast_demo_checkpoint(d / "models")
    fm = json.loads((ckpt / "provenance.json").read_text())["extra"]["feature_models"]
    vids = d / "videos"
    for i in range(4):
        make_test_video(vids / f"v{i}.mp4", seconds=6 + 2 * i, fps=8, size=32, seed=i)
    (vids / "zz_broken.mp4").write_bytes(b"\x00this is not a video" * 64)
    (vids / "notes.txt").write_text("not a video file: ignored")
    return d, ckpt, fm, vids


def _args(d, fm, vids, out):
    return ["features", "extract", "--videos", str(vids), "--out", str(out), "--frame-size", "32", "--device", "cpu",
            "--slowfast-model", fm["slowfast"], "--clip-model", fm["clip"], "--blip2-model", fm["blip"]]


def _finished(out, vid):
    return all((out / b / f"{vid}.npz").exists() for b in DIRS)


def test_extract_broken_video_and_resume_after_kill(setup, videolights_cmd):
    d, _, fm, vids = setup
    out = d / "feats"
    p = subprocess.Popen(videolights_cmd + _args(d, fm, vids, out), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.time()
    while not _finished(out, "v0") and p.poll() is None and time.time() - t0 < 240:
        time.sleep(0.05)
    p.kill()
    p.communicate()
    done = [v for v in ("v0", "v1", "v2", "v3") if _finished(out, v)]
    assert "v0" in done
    stamps = {(b, v): (out / b / f"{v}.npz").stat().st_mtime_ns for b in DIRS for v in done}
    r = subprocess.run(videolights_cmd + _args(d, fm, vids, out), env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"FAILED {vids / 'zz_broken.mp4'}: " in r.stderr and "cannot be read by PyAV" in r.stderr
    assert f"{4 - len(done)} video(s) extracted, {len(done)} already there, 1 failed" in r.stderr
    assert "Traceback" not in r.stderr
    for (b, v), ns in stamps.items():
        assert (out / b / f"{v}.npz").stat().st_mtime_ns == ns, (b, v)  # finished videos were not redone
    for i in range(4):
        sf = np.load(out / "slowfast_features" / f"v{i}.npz")["features"]
        clip = np.load(out / "clip_features" / f"v{i}.npz")["features"]
        assert sf.shape == (3 + i, 288) and clip.shape == (3 + i, 20)  # one row per 2-s clip
    assert sorted(p.name for p in (out / "slowfast_features").iterdir()) == [f"v{i}.npz" for i in range(4)]


def test_checkpoint_extractor_set_to_dataset_and_predict(setup, videolights_cmd):
    "SlowFast + CLIP + BLIP-2 checkpoint: `--checkpoint` gives the extractor set; `--dataset` builds; `predict` runs."
    d, ckpt, _, vids = setup
    good = d / "good"
    good.mkdir()
    for i in range(2):
        (good / f"v{i}.mp4").write_bytes((vids / f"v{i}.mp4").read_bytes())
    ann = [dict(qid=i, vid=f"v{i}", query=q, duration=6 + 2 * i, relevant_windows=[[0, 4]], relevant_clip_ids=[0, 1],
                saliency_scores=[[1, 2, 3], [2, 2, 2]]) for i, q in enumerate(["a dog runs", "a man cooks food"])]
    (d / "val.jsonl").write_text("".join(json.dumps(a) + "\n" for a in ann))
    args = ["features", "extract", "--videos", str(good), "--out", str(d / "f2"), "--checkpoint", str(ckpt),
            "--frame-size", "32", "--device", "cpu", "--annotations", f"val={d / 'val.jsonl'}", "--dataset", str(d / "ds")]
    r = subprocess.run(videolights_cmd + args, env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "2 video(s) extracted" in r.stdout and "dataset:" in r.stdout
    from videolights.data.store import read_manifest
    man = read_manifest(d / "ds")
    assert [b for b, _ in man["video_blocks"]] == ["slowfast", "clip", "blip"]
    assert [dim for _, dim in man["video_blocks"]] == [288, 20, 16]
    assert sorted(p.name for p in (d / "f2" / "blip_text_features").iterdir()) == ["qid0.npz", "qid1.npz"]
    r = subprocess.run(videolights_cmd + ["predict", str(good / "v1.mp4"), "a man cooks food", "--checkpoint", str(ckpt),
                                          "--device", "cpu", "--frame-size", "32", "--json", str(d / "rec.json")],
                       env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rec = json.loads((d / "rec.json").read_text())
    assert len(rec["pred_saliency_scores"]) == 4 and rec["vid"] == "v1"  # 8 s / 2-s clips
    assert all(0 <= st <= ed <= 8 for st, ed, _ in rec["pred_relevant_windows"])
