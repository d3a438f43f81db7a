"""Highlight detection is scored on the clips of the data: the trainer's evaluation passes `data.clip_len` to
`eval_submission`, and a synthetic dataset generated at another clip length carries ground truth on those clips."""
import json

import pytest

from test_train import TINY_BLOCKS   # the `tiny` preset's feature blocks, as test_train_ddp


@pytest.fixture(scope="module")
def ds_1s(tmp_path_factory):
    "8 train / 6 val synthetic queries in 1-s clips, with the `tiny` preset's feature blocks."
    from videolights.data.synthetic import make_synthetic
    return make_synthetic("small", out=tmp_path_factory.mktemp("ds") / "clip1", n_train=8, n_val=6, clip_len=1.0, **TINY_BLOCKS)


def _oracle(saliency):
    "A stand-in model whose saliency is `saliency` `[N, L]` (rows in loader order, one batch) and whose windows are constant."
    import torch

    class Oracle(torch.nn.Module):
        def forward(self, src_txt, src_txt_mask, src_vid, src_vid_mask):
            B, Lv = src_vid_mask.shape
            return dict(pred_logits=torch.zeros(B, 2, 2), pred_spans=torch.full((B, 2, 2), 0.5),
                        saliency_scores=saliency[:B, :Lv].to(src_vid), video_mask=src_vid_mask)
    return Oracle()


def test_trainer_evaluation_uses_clip_len(ds_1s):
    "A saliency aligned to 1-s clips scores HIT@1 = 100 in `train.evaluate` at data.clip_len=1; on 2-s clips it cannot."
    import torch
    from videolights.train import loop as T
    from videolights.core.config import VideoLightsConfig
    from videolights.core.errors import VideoLightsError
    from videolights.evaluation.metrics import eval_submission, _gt_clip_scores
    cfg = VideoLightsConfig.from_preset("tiny", "data.clip_len=1.0", "data.max_v_l=150")
    _, va, gt = T.load_splits(cfg, ds_1s)
    loader = T._loader(va, cfg, len(va), False)
    qids = [m["qid"] for b in loader for m in b["meta"]]
    by_qid = {g["qid"]: g for g in gt}
    assert len(qids) == len(gt) == 6 and set(qids) == set(by_qid)
    rows = [_gt_clip_scores(by_qid[q], 1.0).max(1) for q in qids]  # (L,) per query: the best annotator score per 1-s clip
    assert max(len(r) for r in rows) > 75  # 1-s clips: more than the 75 clips of 2 s of a 150-s video
    S = torch.zeros(len(rows), max(len(r) for r in rows))
    for i, r in enumerate(rows): S[i, :len(r)] = torch.as_tensor(r)
    acc = T._make_accelerator(cfg)
    metrics, recs = T.evaluate(_oracle(S), loader, gt, cfg, acc)
    assert [len(r["pred_saliency_scores"]) for r in recs] == [len(r) for r in rows]
    assert metrics["brief"]["HL-min-Fair-Hit1"] == 100.0 and metrics["brief"]["HL-min-Good-Hit1"] == 100.0
    # the same records scored as if the clips were 2 s (the evaluation before data.clip_len was passed) fail
    with pytest.raises(VideoLightsError, match="clips of a"):
        eval_submission(recs, gt)
    # and the ground truth (record) carries the same 1-s labels as the training columns
    from videolights.data.store import load_dataset
    dd = load_dataset(ds_1s)
    for r in dd["val"]:
        g = json.loads(r["record"])
        assert g["relevant_clip_ids"] == r["relevant_clip_ids"] and g["saliency_scores"] == r["saliency_scores"]



def test_cli_clip_len(tmp_path, videolights_cmd):
    "`videolights eval --clip-len 1` scores 1-s ground truth; a clip length <= 0 is a one-line error (exit 2)."
    import os, subprocess
    from pathlib import Path
    from videolights.core.io import load_jsonl, save_jsonl
    from videolights.evaluation.metrics import _gt_clip_scores
    root = Path(__file__).resolve().parents[1]
    gt = load_jsonl(root / "data/qvhighlights/highlight_val_release.jsonl")[:20]
    gt1 = [{**d, "relevant_clip_ids": [j for i in d["relevant_clip_ids"] for j in (2 * i, 2 * i + 1)],
            "saliency_scores": [s for s in d["saliency_scores"] for _ in (0, 1)]} for d in gt]  # the same labels in 1-s clips
    save_jsonl(gt1, tmp_path / "gt1.jsonl")
    save_jsonl([dict(qid=d["qid"], pred_saliency_scores=list(_gt_clip_scores(d, 1.0).max(1))) for d in gt1], tmp_path / "s1.jsonl")
    run = lambda *a: subprocess.run([*videolights_cmd, "eval", "--submission", str(tmp_path / "s1.jsonl"), "--gt", str(tmp_path / "gt1.jsonl"), *a],
                                    capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=300)
    r = run("--clip-len", "1", "--out", str(tmp_path / "m.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "m.json").read_text())["brief"]["HL-min-Fair-Hit1"] == 100.0
    r = run()  # default 2-s clips: the 1-s clip ids run past the video
    assert r.returncode == 2 and ">= 75 clips" in r.stderr and "Traceback" not in r.stderr
    for bad in ("0", "-2"):
        r = run("--clip-len", bad)
        assert r.returncode == 2 and "--clip-len" in r.stderr and "must be > 0" in r.stderr and "Traceback" not in r.stderr
