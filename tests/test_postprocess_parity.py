"""`videolights.model.postprocess.postprocess` reproduces the original inference post-processing record for record.

The fixture holds seeded random model outputs and the records that the ORIGINAL code (compute_mr_results'
composition, PostProcessorDETR, post_processing_mr_nms with temporal_nms) made from them, run once outside the repo.
"""
import json
from pathlib import Path
import pytest
import torch
from videolights.core.config import VideoLightsConfig, override
from videolights.model.postprocess import postprocess

FIX = json.loads((Path(__file__).parent / "fixtures/eval/postprocess_original.json").read_text())


@pytest.mark.parametrize("case", FIX["cases"], ids=lambda c: f"{c['dset']}-nms{c['nms_thd']}-{c['max_before_nms']}-{c['max_after_nms']}")
def test_postprocess_matches_original(case):
    inp = FIX["inputs"]
    outputs = {k: torch.tensor(inp[k]) for k in ("pred_logits", "pred_spans", "saliency_scores", "video_mask")}
    preset = "qvhighlights" if case["dset"] == "hl" else "charades"
    cfg = override(VideoLightsConfig.from_preset(preset), [f"data.clip_len={float(case['clip_length'])}", f"train.nms_thd={case['nms_thd']}",
                                                      f"train.max_before_nms={case['max_before_nms']}", f"train.max_after_nms={case['max_after_nms']}"])
    meta = [dict(m) for m in inp["meta"]]
    ours = postprocess(outputs, meta, cfg)
    assert len(ours) == len(case["records"])
    for a, b in zip(ours, case["records"]):
        assert a["qid"] == b["qid"] and set(a) == set(b)
        assert a["pred_relevant_windows"] == b["pred_relevant_windows"], a["qid"]
        if "pred_saliency_scores" in b: assert a["pred_saliency_scores"] == b["pred_saliency_scores"]
