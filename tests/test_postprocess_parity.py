"""`videolights.model.postprocess.postprocess` reproduces the original inference post-processing record for record.

Two fixtures, both made by the ORIGINAL code (compute_mr_results' composition, PostProcessorDETR,
post_processing_mr_nms with temporal_nms; compute_hl_results for TVSum / YouTube-HL):
- `postprocess_original.json`: seeded random model outputs, run once outside the repo;
- `postprocess_ties.json` (`tests/fixtures/eval/make_postprocess_ties.py --original PATH`): hand-built outputs whose
  window ends reach the rounding step at exact half-clip positions (half to even vs half up / half down), past the
  0 / 150 s clamp, with tied scores and NMS pairs at exactly the threshold IoU; and HD-only batches with padding clips,
  where the original ranks `pred[:len(label)]`.
"""
import json
from pathlib import Path
import numpy as np
import pytest
import torch
from videolights.core.config import VideoLightsConfig, override
from videolights.evaluation.metrics import hd_video_ap
from videolights.model.postprocess import postprocess

FIX = Path(__file__).parent / "fixtures" / "eval"
RANDOM = json.loads((FIX / "postprocess_original.json").read_text())
TIES = json.loads((FIX / "postprocess_ties.json").read_text())
PRESET = {"hl": "qvhighlights", "charadesSTA": "charades", "tvsum": "tvsum", "youtube_uni": "youtube"}
CASES = [(RANDOM["inputs"], c) for c in RANDOM["cases"]] + [(g["inputs"], c) for g in TIES["mr"].values() for c in g["cases"]]


def case_id(x):
    c = x[1]
    return f"{c['dset']}-nms{c['nms_thd']}-{c['max_before_nms']}-{c['max_after_nms']}" + ("-ties" if x[0] is not RANDOM["inputs"] else "")


def case_config(case):
    return override(VideoLightsConfig.from_preset(PRESET[case["dset"]]), [
        f"data.clip_len={float(case['clip_length'])}", f"train.nms_thd={case['nms_thd']}",
        f"train.max_before_nms={case['max_before_nms']}", f"train.max_after_nms={case['max_after_nms']}"])


@pytest.mark.parametrize("inp, case", CASES, ids=[case_id(x) for x in CASES])
def test_postprocess_matches_original(inp, case):
    outputs = {k: torch.tensor(inp[k]) for k in ("pred_logits", "pred_spans", "saliency_scores", "video_mask")}
    ours = postprocess(outputs, [dict(m) for m in inp["meta"]], case_config(case))
    assert len(ours) == len(case["records"])
    for a, b in zip(ours, case["records"]):
        assert a["qid"] == b["qid"] and set(a) == set(b)
        assert a["pred_relevant_windows"] == b["pred_relevant_windows"], a["qid"]   # list ==: lengths and values
        if "pred_saliency_scores" in b:
            assert a["pred_saliency_scores"] == b["pred_saliency_scores"]


@pytest.mark.parametrize("dset", list(TIES["hd"]))
def test_hd_only_records_match_original(dset):
    "TVSum / YouTube-HL records hold exactly the scores the original ranks (valid clips only, float32) and score its mAP."
    g = TIES["hd"][dset]
    inp = g["inputs"]
    outputs = {k: torch.tensor(inp[k]) for k in ("saliency_scores", "video_mask")}
    ours = postprocess(outputs, [dict(m) for m in inp["meta"]], VideoLightsConfig.from_preset(PRESET[dset]))
    assert [set(r) for r in ours] == [{"qid", "query", "vid", "pred_saliency_scores"}] * len(inp["meta"])
    assert [r["pred_saliency_scores"] for r in ours] == g["ranked"]
    aps = [hd_video_ap(r["pred_saliency_scores"], m["label"], "tvsum" if dset == "tvsum" else "youtube")
           for r, m in zip(ours, inp["meta"])]
    assert round(float(np.mean(aps)), 5) == g["mAP"]


def test_ties_fixture_covers_the_contract():
    "The ends really sit at half-clip positions with even and odd clip index; padding is there; NMS at the threshold."
    for dset, g in TIES["mr"].items():
        c = g["cases"][0]["clip_length"]
        ties = [v / c for rec in g["before_round"] for w in rec for v in w if (v / c) % 1 == 0.5]
        assert sum(int(t) % 2 == 0 for t in ties) >= 10 and sum(int(t) % 2 == 1 for t in ties) >= 10, dset
        assert {c["nms_thd"] for c in g["cases"]} >= {-1, 0.5, 0.7}
        assert min(sum(m) for m in g["inputs"]["video_mask"]) < len(g["inputs"]["video_mask"][0])
    for dset, g in TIES["hd"].items():
        assert all(len(r) < len(g["inputs"]["video_mask"][0]) for r in g["ranked"]), dset
