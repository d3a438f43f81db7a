"""Long videos end to end: `videolights predict` on a generated 10-minute video (300 clips, four times `max_v_l`)
returns moments in video time from every window and a saliency score for every clip."""
import json, os, subprocess

import numpy as np
import pytest

ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1")


@pytest.fixture(scope="module")
def ten_minutes(tmp_path_factory):
    from videolights.testing.tiny import make_demo_checkpoint, make_test_video
    d = tmp_path_factory.mktemp("long")
    return d, make_demo_checkpoint(d), make_test_video(d / "ten_minutes.mp4", seconds=600, fps=1, size=32, seed=3)


def test_predict_ten_minute_video(ten_minutes, videolights_cmd):
    from videolights.core.config import VideoLightsConfig
    from videolights.model.windows import window_starts
    d, ckpt, video = ten_minutes
    cfg = VideoLightsConfig.load(ckpt)
    assert cfg.data.max_v_l == 75
    r = subprocess.run(videolights_cmd + ["predict", str(video), "a man cooks food", "--checkpoint", str(ckpt),
                                          "--device", "cpu", "--frame-size", "32", "--nms", "-1", "--top-k", "1000",
                                          "--json", str(d / "out.json")],
                       capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr
    rec = json.loads((d / "out.json").read_text())
    assert rec["duration"] == 600.0
    sal = rec["pred_saliency_scores"]
    assert len(sal) == 300 and np.isfinite(sal).all()  # one score per 2-s clip of the whole video
    starts = window_starts(300, 75, cfg.data.window_overlap)
    w = np.array(rec["pred_relevant_windows"])
    assert len(w) == len(starts) * cfg.model.num_queries  # NMS off: every window's every moment
    assert (w[:, 0] >= 0).all() and (w[:, 1] <= 600).all() and (w[:, 0] <= w[:, 1]).all()
    assert (np.diff(w[:, 2]) <= 0).all()
    assert (w[:, 0] >= int(starts[-1]) * 2).sum() >= cfg.model.num_queries  # the last window's moments, in video time
