"""`videolights predict` end to end: a tiny checkpoint whose feature blocks match tiny CLIP / BLIP-2 extractors,
a generated video, the CLI in a subprocess; plus dataset prediction scored by `videolights eval`, and bad input."""
import json, os, subprocess
from pathlib import Path

import pytest

ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from videolights.testing.tiny import make_demo_checkpoint
    from videolights.testing.tiny import make_test_video
    d = tmp_path_factory.mktemp("predict")
    ckpt = make_demo_checkpoint(d)
    video = make_test_video(d / "video.mp4", seconds=16, fps=4, size=32, seed=2)
    return d, ckpt, video


def run(cmd, args):
    return subprocess.run(cmd + args, capture_output=True, text=True, env=ENV, timeout=300)


def test_predict_video(setup, videolights_cmd):
    d, ckpt, video = setup
    r = run(videolights_cmd, ["predict", str(video), "a man cooks food", "--checkpoint", str(ckpt), "--device", "cpu",
                              "--frame-size", "32", "--json", str(d / "out.json"), "--plot", str(d / "sal.png"), "--top-k", "5"])
    assert r.returncode == 0, r.stderr
    assert "rank" in r.stdout and "top highlight clips" in r.stdout
    rec = json.loads((d / "out.json").read_text())
    assert len(rec["pred_saliency_scores"]) == 8  # 16 s / 2-s clips
    w = rec["pred_relevant_windows"]
    assert 1 <= len(w) <= 5 and all(0 <= st <= ed <= 16 for st, ed, _ in w)
    assert [s for *_, s in w] == sorted([s for *_, s in w], reverse=True)
    assert rec["query"] == "a man cooks food" and rec["vid"] == "video"
    assert (d / "sal.png").stat().st_size > 1000


@pytest.mark.parametrize("kind, needle", [("empty_query", "is empty"), ("zero_bytes", "empty file"),
                                          ("short", "shorter than one clip"), ("junk", "cannot be read"),
                                          ("missing", "does not exist")])
def test_predict_bad_input(setup, videolights_cmd, kind, needle):
    d, ckpt, video = setup
    from videolights.testing.tiny import make_test_video
    query = "a dog"
    if kind == "empty_query": query = " "
    elif kind == "zero_bytes": video = d / "zero.mp4"; video.write_bytes(b"")
    elif kind == "short": video = make_test_video(d / "short.mp4", seconds=1, fps=4, size=32)
    elif kind == "junk": video = d / "junk.mp4"; video.write_bytes(b"\x00garbage" * 100)
    elif kind == "missing": video = d / "missing.mp4"
    r = run(videolights_cmd, ["predict", str(video), query, "--checkpoint", str(ckpt), "--device", "cpu", "--frame-size", "32"])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_predict_slowfast_checkpoint_without_its_model(tmp_path, setup, videolights_cmd):
    "A checkpoint on SlowFast features runs on a raw video given the SlowFast file; without one, one line says where to get it."
    import torch
    from videolights.core.config import VideoLightsConfig
    from videolights.model.videolights import build_model
    from videolights.model.checkpoint import save_checkpoint
    _, _, video = setup
    cfg = VideoLightsConfig.from_preset("tiny")
    torch.manual_seed(0)
    ck = save_checkpoint(tmp_path / "sf", build_model(cfg), cfg)
    env = {k: v for k, v in ENV.items() if k != "VIDEOLIGHTS_SLOWFAST"}
    r = subprocess.run(videolights_cmd + ["predict", str(video), "a dog", "--checkpoint", str(ck), "--device", "cpu",
                                          "--slowfast-model", str(tmp_path / "missing.pkl")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2 and "SlowFast checkpoint" in r.stderr and "SLOWFAST_8x8_R50.pkl" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_predict_dataset_then_eval(setup, videolights_cmd):
    "Features extracted from videos -> dataset -> `predict --dataset` -> `eval` reads the submission."
    d, ckpt, _ = setup
    from videolights.apps.features import FeatureExtractor, FEATURE_DIRS
    from videolights.testing.tiny import make_test_video
    from videolights.data.store import build_dataset
    fm = json.loads((ckpt / "provenance.json").read_text())["extra"]["feature_models"]
    fx = FeatureExtractor(("clip", "blip"), models=fm, frame_size=32, device="cpu")
    vids = {f"v{i}": make_test_video(d / f"vids/v{i}.mp4", seconds=10, fps=4, size=32, seed=i) for i in range(2)}
    ann = [dict(qid=i, vid=f"v{i}", query=q, duration=10, relevant_windows=[[2, 6]], relevant_clip_ids=[1, 2],
                saliency_scores=[[1, 2, 3], [2, 2, 2]]) for i, q in enumerate(["a dog runs", "a man cooks"])]
    (d / "gt.jsonl").write_text("".join(json.dumps(a) + "\n" for a in ann))
    fx.extract(vids, d / "feats", queries=ann, progress=False)
    ds = build_dataset({"val": d / "gt.jsonl"}, [d / "feats" / FEATURE_DIRS["video"][b] for b in ("clip", "blip")],
                       [d / "feats" / FEATURE_DIRS["text"][b] for b in ("clip", "blip")], d / "ds",
                       video_blocks=["clip", "blip"], text_blocks=["clip", "blip"])
    r = run(videolights_cmd, ["predict", "--dataset", str(ds), "--split", "val", "--checkpoint", str(ckpt),
                              "--device", "cpu", "--out", str(d / "preds.jsonl")])
    assert r.returncode == 0, r.stderr
    preds = [json.loads(l) for l in (d / "preds.jsonl").read_text().splitlines()]
    assert sorted(p["qid"] for p in preds) == [0, 1]
    assert all(len(p["pred_saliency_scores"]) == 5 for p in preds)
    r = run(videolights_cmd, ["eval", "--submission", str(d / "preds.jsonl"), "--gt", str(d / "gt.jsonl"),
                              "--out", str(d / "metrics.json")])
    assert r.returncode == 0, r.stderr
    m = json.loads((d / "metrics.json").read_text())
    assert "MR-full-mAP" in m["brief"] and 0 <= m["brief"]["MR-full-mAP"] <= 100


def test_predict_default_models_offline_is_a_clear_error(tmp_path, setup, videolights_cmd):
    "A checkpoint on the official CLIP+BLIP-2 blocks uses the official model ids; offline and uncached, that is one clear line."
    import torch
    from videolights.core.config import VideoLightsConfig
    from videolights.model.videolights import build_model
    from videolights.model.checkpoint import save_checkpoint
    _, _, video = setup
    cfg = VideoLightsConfig.from_preset("tiny", 'data.video_blocks=[["clip",512],["blip",768]]', 'data.text_blocks=[["clip",512],["blip",768]]')
    torch.manual_seed(0)
    ck = save_checkpoint(tmp_path / "official_blocks", build_model(cfg), cfg)
    r = run(videolights_cmd, ["predict", str(video), "a dog", "--checkpoint", str(ck), "--device", "cpu"])
    assert r.returncode == 2, r.stderr
    assert "openai/clip-vit-base-patch32" in r.stderr and "not in the Hugging Face cache" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
