"""Deterministic (seeded) QVHighlights-style submissions for evaluation tests, fixtures and examples.

`make_submission(gt, kind, seed)` returns a list of submission records (`qid, query, vid, pred_relevant_windows,
pred_saliency_scores`) built from ground-truth records. Only numpy is used; the same call always gives the same
records, so parity fixtures made once with the official script can be checked again by regenerating them.
"""
from __future__ import annotations
import numpy as np

KINDS = ("perfect", "shifted", "random", "many_windows", "ties", "past_end", "wrong_len_saliency",
         "unsorted_mixed", "single_window", "degenerate", "example")


def _gt_saliency(d, n):
    s = np.zeros(n)
    for cid, sc in zip(d.get("relevant_clip_ids") or [], d.get("saliency_scores") or []):
        if cid < n: s[cid] = sum(sc)
    return s


def _round(rows, nd=4):
    return [[round(float(v), nd) for v in r] for r in rows]


def make_record(d, kind, rng):
    "One submission record for ground-truth record `d`."
    dur = float(d["duration"]); n = int(dur / 2)
    gtw = np.array(d.get("relevant_windows") or [[0, min(dur, 10)]], dtype=float)
    sal = _gt_saliency(d, n)
    if kind == "perfect":
        wins = [[w[0], w[1], 1.0 - 0.01 * i] for i, w in enumerate(gtw)]
    elif kind == "shifted":
        sh = rng.choice([-6, -4, -2, 2, 4, 6]); wins = [[w[0] + sh, w[1] + sh, 0.9 - 0.05 * i] for i, w in enumerate(gtw)]
        sal = np.roll(sal, int(sh // 2)) + rng.normal(0, 0.5, n)
    elif kind == "random":
        st = rng.uniform(0, dur, 10); ln = rng.uniform(2, 60, 10)
        wins = np.stack([st, np.minimum(st + ln, dur), rng.random(10)], 1); sal = rng.normal(0, 1, n)
    elif kind == "many_windows":  # 15 windows: the exact GT at rank 12, beyond the 10-window cut
        st = rng.integers(0, int(dur) // 2, 15) * 2.0; ln = rng.integers(1, 20, 15) * 2.0
        wins = np.stack([st, st + ln, np.linspace(0.95, 0.25, 15)], 1); wins[12, :2] = gtw[0]
        sal = sal + rng.normal(0, 2, n)
    elif kind == "ties":  # equal window scores, integer saliency with many ties
        j = rng.normal(0, 4, (len(gtw), 2)).round() * 2
        wins = [[w[0] + a, w[1] + b, 0.5] for w, (a, b) in zip(gtw, j)] + [[0.0, dur, 0.5]]
        sal = np.minimum(sal // 4, 2) + rng.integers(0, 2, n)
    elif kind == "past_end":  # windows past the video end and before 0
        wins = [[w[0] - 4, w[1] + 30, 0.8] for w in gtw] + [[dur - 10, dur + 40, 0.9], [-10.0, 8.0, 0.3]]
        sal = sal + rng.normal(0, 1, n)
    elif kind == "wrong_len_saliency":  # saliency lists too short / too long
        wins = [[w[0] + 2, w[1] - 2, 0.7] for w in gtw]
        m = int(rng.integers(max(1, n - 20), n + 20)); sal = np.resize(sal + rng.normal(0, 1, n), m)
    elif kind == "unsorted_mixed":  # jittered GT mixed with distractors, list not sorted by score
        j = rng.normal(0, 3, (len(gtw), 2))
        good = [[w[0] + a, w[1] + b, rng.uniform(0.3, 1)] for w, (a, b) in zip(gtw, j)]
        st = rng.uniform(0, dur - 4, 6); bad = [[s, s + rng.uniform(2, 30), rng.uniform(0, 1)] for s in st]
        wins = bad[:2] + good + bad[2:]; sal = 0.5 * sal + rng.normal(0, 2, n)
    elif kind == "single_window":
        w = gtw[rng.integers(len(gtw))]; wins = [[w[0] - 2, w[1] + 2, 1.0]]; sal = -sal
    elif kind == "degenerate":  # zero-length windows and a coarse 0/1 saliency
        wins = [[w[0], w[0], 0.9] for w in gtw] + [[w[0], w[1], 0.4] for w in gtw]; sal = (sal > 6).astype(float)
    elif kind == "example":  # a plausible, imperfect model output
        j = rng.normal(0, 3, (len(gtw), 2)) * 2
        good = [[max(0, w[0] + a), min(dur, max(w[0] + a + 2, w[1] + b)), rng.uniform(0.4, 0.95)] for w, (a, b) in zip(gtw, j)]
        st = rng.uniform(0, dur - 4, 10 - min(len(good), 9))
        bad = [[s, min(dur, s + rng.uniform(4, 40)), rng.uniform(0.0, 0.6)] for s in st]
        wins = sorted(good[:9] + bad, key=lambda r: -r[2])
        wins = [[round(a / 2) * 2, round(b / 2) * 2, c] for a, b, c in wins]
        wins = [[min(max(a, 0), dur), min(max(b, 0), dur), c] for a, b, c in wins]  # inside the video, start <= end
        sal = 0.25 * sal + rng.normal(0, 1, n)
    else:
        raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")
    return dict(qid=d["qid"], query=d.get("query", ""), vid=d.get("vid", ""),
                pred_relevant_windows=_round(np.asarray(wins, dtype=float).tolist()),
                pred_saliency_scores=[round(float(v), 4) for v in np.asarray(sal, dtype=float)])


def make_submission(gt, kind, seed=0):
    "Submission records for every ground-truth record, deterministic in (`kind`, `seed`)."
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    return [make_record(d, kind, rng) for d in gt]


def make_charades_submission(gt, kind, seed=0):
    "Charades-STA submissions (windows only): `jitter` (near the GT) or `random`."
    rng = np.random.default_rng([seed, 100 + ("jitter", "random").index(kind)])
    out = []
    for d in gt:
        dur = float(d["duration"]); w = np.array(d["relevant_windows"][0], dtype=float)
        if kind == "jitter":
            wins = [[w[0] + rng.normal(0, 2), w[1] + rng.normal(0, 2), 0.9]]
            st = rng.uniform(0, dur, 4); wins += [[s, min(dur, s + rng.uniform(2, 15)), rng.uniform(0, 0.8)] for s in st]
        else:
            st = rng.uniform(0, dur, 5); wins = [[s, min(dur, s + rng.uniform(1, 20)), rng.random()] for s in st]
        out.append(dict(qid=d["qid"], query=d["query"], vid=d["vid"], pred_relevant_windows=_round(wins)))
    return out


def make_hd_submission(gt, seed=0, noise=1.0):
    "TVSum / YouTube-HL submissions: saliency = noisy mean label, one score per clip (continuous, no ties)."
    rng = np.random.default_rng([seed, 200])
    out = []
    for d in gt:
        lab = np.asarray(d["label"], dtype=float).mean(1)
        out.append(dict(qid=d["qid"], query=d["query"], vid=d["vid"],
                        pred_saliency_scores=[float(v) for v in lab + rng.normal(0, noise, len(lab))]))
    return out
