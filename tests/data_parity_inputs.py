"""Deterministic inputs for the batch-parity tests: small random features in the official npz layout over real annotations.

Used both by `tests/fixtures/data/make_parity_fixtures.py` (which runs the ORIGINAL pipeline on them, from a clone
outside this repository, and stores only the resulting tensors) and by `tests/test_data.py` (which rebuilds the same
files and compares this package's dataset + collate against the stored tensors).
"""
import json, math
from pathlib import Path
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SEED = {"qvhighlights": 1, "charades": 2, "tvsum": 3}
RANDOM_SEED = 2018          # seed of Python's `random` stream shared by both pipelines
BSZ = 4
CASES = {  # kind -> (annotation file, original dset_name, clip_len, max_v_l, max_q_l, domain)
    "qvhighlights": ("qvhighlights/highlight_val_release.jsonl", "hl", 2.0, 75, 32, None),
    "charades": ("charades_sta/charades_sta_test_tvr_format.jsonl", "charadesSTA", 1.0, 75, 32, None),
    "tvsum": ("tvsum/tvsum_train.jsonl", "tvsum", 2.0, 1000, 32, "BK"),
}
VDIMS = {"qvhighlights": {"slowfast": 12, "clip": 8, "blip": 6}, "charades": {"slowfast": 12, "clip": 8, "blip": 6},
         "tvsum": {"video_features": 6, "clip_features": 8}}   # tvsum: I3D rgb/opt npy pair (6+6) + CLIP npz
TDIMS = {"qvhighlights": {"clip": 8, "blip": 6}, "charades": {"clip": 8, "blip": 6}, "tvsum": {"query_features": 8}}


def select_records(kind):
    "The annotation lines of a case: a few ordinary ones plus the edge cases (>5 windows, clip id == L)."
    path, *_ , domain = CASES[kind]
    recs = [json.loads(l) for l in open(DATA / path) if l.strip()]
    if kind == "qvhighlights":
        many = [r for r in recs if len(r["relevant_windows"]) > 5][:3]
        last = [r for r in recs if max(r["relevant_clip_ids"]) == 74 and len(r["relevant_windows"]) <= 5][:2]
        pick = recs[:5] + many + last
        return list({r["qid"]: r for r in pick}.values())
    if kind == "charades": return recs[:10]
    return [r for r in recs if r["domain"] == domain]


def write_inputs(kind, root):
    "Write the case's annotation jsonl and random features; returns (jsonl path, video dirs, text dirs, records)."
    root = Path(root); root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED[kind]); recs = select_records(kind)
    _, _, clip_len, *_ = CASES[kind]
    ann = root / (f"{kind}_train.jsonl" if kind != "tvsum" else "tvsum_train.jsonl")
    ann.write_text("".join(json.dumps(r) + "\n" for r in recs))
    vdirs = {b: root / "video" / b for b in VDIMS[kind]}; tdirs = {b: root / "text" / b for b in TDIMS[kind]}
    for d in list(vdirs.values()) + list(tdirs.values()): d.mkdir(parents=True, exist_ok=True)
    grow_vids = {r["vid"] for r in recs if kind == "qvhighlights" and max(r["relevant_clip_ids"]) == 74}
    for r in recs:
        if kind == "tvsum": base = len(r["label"])
        elif kind == "charades": base = max(1, int(round(r["duration"])) + int(rng.integers(-2, 2)))
        else: base = math.ceil(r["duration"] / clip_len)
        for i, (b, d) in enumerate(VDIMS[kind].items()):
            n = base + int(rng.integers(0, 3))
            if r["vid"] in grow_vids and i == 1: n = 74          # clip id 74 == L: the original grows the array
            a = (rng.standard_normal((n, d)) * 3 + 1).astype(np.float32)
            if kind == "tvsum" and b == "video_features":
                np.save(vdirs[b] / f"{r['vid']}_rgb.npy", a); np.save(vdirs[b] / f"{r['vid']}_opt.npy", a[:, ::-1] * 2)
            else: np.savez(vdirs[b] / f"{r['vid']}.npz", features=a)
        n_tok = len(r["query"].split()) + 2
        if kind != "tvsum" and r is recs[1]: n_tok = 40                # longer than max_q_l
        for b, d in TDIMS[kind].items():
            a = rng.standard_normal((n_tok + int(rng.integers(0, 2)), d)).astype(np.float32)
            if kind == "tvsum": np.savez(tdirs[b] / f"{r['qid']}.npz", token=a)
            else: np.savez(tdirs[b] / f"qid{r['qid']}.npz", last_hidden_state=a)
    return ann, [str(d) for d in vdirs.values()], [str(d) for d in tdirs.values()], recs


BATCH_KEYS = ("src_txt", "src_txt_mask", "src_vid", "src_vid_mask", "saliency_pos_labels", "saliency_neg_labels",
              "saliency_pos_index", "saliency_all_labels")


def flatten_batch(i, model_inputs, targets):
    "A batch as flat numpy arrays `b{i}_{key}` (spans concatenated, with per-sample counts)."
    out = {}
    for k in BATCH_KEYS:
        v = model_inputs.get(k) if k in model_inputs else (targets or {}).get(k)
        if v is not None: out[f"b{i}_{k}"] = v.numpy()
    if targets and "span_labels" in targets:
        sp = [e["spans"].reshape(-1, 2) for e in targets["span_labels"]]
        out[f"b{i}_spans"] = np.concatenate([s.numpy() for s in sp]); out[f"b{i}_n_spans"] = np.array([len(s) for s in sp])
    return out
