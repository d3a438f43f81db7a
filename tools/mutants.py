"""Mutation check: apply one plausible, subtle bug at a time to a scratch copy of the repository and run the tests.

Each mutant below changes one line of a critical module (spans, batching, model, losses, post-processing, evaluation)
the way a real slip would: an off-by-one, a wrong reduction, a swapped index, a rounding rule, a forgotten residual.
The change is made in the module's notebook and in its exported file of a scratch copy (this checkout is never
touched); then

- the pytest files that should catch it run (`-x`, fast tests only), and the first failing test is recorded;
- the module's own notebook runs (`nbdev_test`, no slow cells), which must catch the bugs in its own code.

A mutant that no test fails is a gap. Not part of CI (minutes per mutant); the last result is the table in
nbs/explanations/mutants.ipynb (written by `--write-docs`). From the repository root:

    .venv/bin/python tools/mutants.py --list            # the mutants
    .venv/bin/python tools/mutants.py --check           # each one still applies to exactly one line
    .venv/bin/python tools/mutants.py                   # run them all (about 20-40 minutes on 2 cores)
    .venv/bin/python tools/mutants.py losses-epoch-factor postprocess-half-up --write-docs
    .venv/bin/python tools/mutants.py --full            # each mutant against the whole fast suite instead

Every pytest run here is a subset of the README's test command (`tools/run_tests.sh`: every notebook, then every
test in tests/), so a mutant caught here is caught by that command too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS_NB = ROOT / "nbs" / "explanations" / "mutants.ipynb"
TABLE_CELL = "mutant-table"
IGNORE = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", ".pytest_cache", "_docs", "_site", "runs")


@dataclass
class Mutant:
    name: str  # short id, `<area>-<what>`
    notebook: str  # the module's notebook, relative to nbs/
    old: str  # the exact text replaced (must occur once in the notebook's code and in the exported module)
    new: str  # what replaces it
    why: str  # the bug, in words
    tests: list = field(default_factory=list)  # pytest files / node ids expected to catch it, cheapest first


SPANS, BATCH, LOSS = "core/03_spans.ipynb", "data/01_batching.ipynb", "criterion/01_losses.ipynb"
PP, EVAL, VL = "model/05_postprocess.ipynb", "evaluation/00_metrics.ipynb", "model/04_videolights.ipynb"
T_DATA, T_MODEL, T_LOSS = "tests/test_data.py", "tests/test_model_parity.py", "tests/test_losses_parity.py"
T_PP, T_EVAL = "tests/test_postprocess_parity.py", "tests/test_eval_parity.py"

MUTANTS = [
    Mutant(
        "spans-union-no-inter",
        SPANS,
        "len1[..., :, None] + len2[..., None, :] - inter",
        "len1[..., :, None] + len2[..., None, :]",
        "IoU union forgets to subtract the intersection",
        [T_LOSS, T_EVAL],
    ),
    Mutant(
        "spans-giou-enclosing",
        SPANS,
        "left = xp.minimum(spans1[:, None, 0], spans2[None, :, 0])",
        "left = xp.maximum(spans1[:, None, 0], spans2[None, :, 0])",
        "gIoU enclosing span starts at the later start",
        [T_LOSS],
    ),
    Mutant(
        "spans-negative-intersection",
        SPANS,
        "inter = xp.clip(right - left, 0, None)  # (..., N, M)",
        "inter = right - left  # (..., N, M)",
        "IoU intersection not clamped at 0: disjoint spans get a negative IoU",
        [T_LOSS, T_EVAL],
    ),
    Mutant(
        "spans-half-width",
        SPANS,
        "xp.stack([(s + e) * 0.5, e - s], -1)",
        "xp.stack([(s + e) * 0.5, (e - s) * 0.5], -1)",
        "(start, end) -> (center, half width) instead of width",
        [T_DATA, T_LOSS],
    ),
    Mutant(
        "spans-nms-at-threshold",
        SPANS,
        "((iou[..., :k, k] > thd) & keep_sorted[..., :k])",
        "((iou[..., :k, k] >= thd) & keep_sorted[..., :k])",
        "NMS suppresses a window whose IoU equals the threshold",
        [T_PP],
    ),
    Mutant(
        "batch-tef-padded-length",
        BATCH,
        "out[b, :L, off:] = tef(L)",
        "out[b, :L, off:] = tef(Lm)[:L]",
        "TEF normalised by the padded batch length instead of the video's",
        [T_DATA],
    ),
    Mutant(
        "batch-rater-mean",
        BATCH,
        "reshape(len(rel_ids), -1).sum(1)",
        "reshape(len(rel_ids), -1).mean(1)",
        "QVHighlights saliency label = mean of the 3 raters instead of their sum",
        [T_DATA],
    ),
    Mutant(
        "batch-l2n-eps",
        BATCH,
        "x / (row_norms(x) + np.float32(1e-5))",
        "x / np.maximum(row_norms(x), np.float32(1e-5))",
        "feature normalisation: eps as a floor, not added",
        [T_DATA],
    ),
    Mutant(
        "batch-charades-end",
        BATCH,
        "st, ed = int(window[0] / c), max(0, min(int(window[1] / c), L) - 1)",
        "st, ed = int(window[0] / c), max(0, min(int(window[1] / c), L - 1))",
        "Charades-STA positive clips include the clip the window ends in",
        [T_DATA],
    ),
    Mutant(
        "model-sine-padded-length",
        "model/00_layers.ipynb",
        "c = c / (c[:, -1:] + 1e-6) * (2 * math.pi)",
        "c = c / (c.shape[1] + 1e-6) * (2 * math.pi)",
        "position encoding normalised by the padded length",
        [T_MODEL],
    ),
    Mutant(
        "model-pool-softmax-dim",
        "model/01_fra.ipynb",
        "logits.softmax(dim=1)).squeeze(-1)",
        "logits.softmax(dim=-1)).squeeze(-1)",
        "FRA sentence pooling: softmax over the singleton dim (all weights 1)",
        [T_MODEL],
    ),
    Mutant(
        "model-bicmf-mask-order",
        "model/02_bicmf.ipynb",
        "m[((b * nheads + h) % m.shape[0]).flatten()]",
        "m[((h * m.shape[0] + b) % m.shape[0]).flatten()]",
        "Bi-CMF head masks in the usual order while the default reproduces the original's",
        [T_MODEL],
    ),
    Mutant(
        "model-saliency-scale",
        VL,
        "return scores / math.sqrt(self.hidden_dim)",
        "return scores / self.hidden_dim",
        "saliency scaled by d instead of sqrt(d)",
        [T_MODEL],
    ),
    Mutant(
        "model-negative-roll",
        VL,
        "txt_neg, mask_neg = txt.roll(-1, 0), txt_mask.roll(-1, 0)",
        "txt_neg, mask_neg = txt.roll(1, 0), txt_mask.roll(1, 0)",
        "negative pairs take the previous sample's query instead of the next",
        [T_MODEL],
    ),
    Mutant(
        "model-span-no-inverse-sigmoid",
        VL,
        "(self.span_embed(hs) + inverse_sigmoid(refs)).sigmoid()",
        "(self.span_embed(hs) + refs).sigmoid()",
        "span offsets added to the anchor in [0, 1], not in logit space",
        [T_MODEL],
    ),
    Mutant(
        "model-gather-off-by-one",
        VL,
        "return out * (j < length[:, None])[..., None].to(x.dtype)",
        "return out * (j <= length[:, None])[..., None].to(x.dtype)",
        "MR->HD moment slice keeps one clip too many",
        [T_MODEL],
    ),
    Mutant(
        "model-mr2hd-no-residual",
        VL,
        "memory = memory * w[..., None] + memory",
        "memory = memory * w[..., None]",
        "MR->HD feedback drops the residual",
        [T_MODEL],
    ),
    Mutant(
        "losses-matcher-l2",
        "criterion/00_matcher.ipynb",
        "c_span = torch.cdist(spans, tgt_spans, p=1)",
        "c_span = torch.cdist(spans, tgt_spans, p=2)",
        "matching cost with the L2 instead of the L1 distance",
        [T_LOSS],
    ),
    Mutant(
        "losses-eos-weight-swapped",
        LOSS,
        "weight = torch.tensor([1.0, eos_coef],",
        "weight = torch.tensor([eos_coef, 1.0],",
        "no-object weight on the foreground class",
        [T_LOSS],
    ),
    Mutant(
        "losses-contrastive-mean",
        LOSS,
        "logits = sim.sum(2) / temperature",
        "logits = sim.mean(2) / temperature",
        "contrastive alignment averages the token similarities instead of summing",
        [T_LOSS],
    ),
    Mutant(
        "losses-saliency-row-min",
        LOSS,
        "s = (scores - s.min()) / (labels.max() - labels.min()) if padded else scores - s.min()",
        "s = (scores - s.min(1, keepdim=True)[0]) / (labels.max() - labels.min()) if padded else scores - s.min()",
        "saliency shifted by each row's minimum, not the batch minimum the original uses",
        [T_LOSS],
    ),
    Mutant(
        "losses-margin-sign",
        LOSS,
        "torch.clamp(margin + neg - pos, min=0)",
        "torch.clamp(margin + pos - neg, min=0)",
        "margin ranking loss with positive and negative swapped",
        [T_LOSS],
    ),
    Mutant(
        "losses-rank-level",
        LOSS,
        "pos = lab[None] >= lv[:, None, None]",
        "pos = lab[None] > lv[:, None, None]",
        "rank-contrastive positives: label > level instead of >=",
        [T_LOSS],
    ),
    Mutant(
        "losses-epoch-factor",
        LOSS,
        "factor = (epoch_i + 1) if L.hard_pos_neg_epoch_scaling else 1",
        "factor = epoch_i if L.hard_pos_neg_epoch_scaling else 1",
        "hard pos/neg factor epoch instead of epoch + 1",
        [T_LOSS],
    ),
    Mutant(
        "losses-neg-pair-mean",
        LOSS,
        "return (nll * mask).sum(1).mean()",
        "return (nll * mask).mean()",
        "negative-pair loss averaged over clips instead of summed",
        [T_LOSS],
    ),
    Mutant(
        "postprocess-half-up",
        PP,
        "se = torch.round(se / clip_len) * clip_len",
        "se = torch.floor(se / clip_len + 0.5) * clip_len",
        "window ends rounded half up instead of half to even",
        [T_PP],
    ),
    Mutant(
        "postprocess-hd-padding",
        PP,
        'rec["pred_saliency_scores"] = sal[i][: n_valid[i]]',
        'rec["pred_saliency_scores"] = sal[i]',
        "saliency of the padding clips left in the records",
        [T_PP],
    ),
    Mutant(
        "postprocess-no-fp16",
        PP,
        "sal = sal.half() if (T.quirk_saliency_fp16 and not hd_only) else sal.float()",
        "sal = sal.float()",
        "saliency not passed through float16 as the original",
        [T_PP],
    ),
    Mutant(
        "eval-iou-at-threshold",
        EVAL,
        "is_fp = ~done & (v < thd)",
        "is_fp = ~done & (v <= thd)",
        "an IoU equal to the threshold counts as a miss in MR mAP",
        [T_EVAL],
    ),
    Mutant(
        "eval-length-bucket-edges",
        EVAL,
        "gvalid_all & (glen > lo) & (glen <= hi)",
        "gvalid_all & (glen >= lo) & (glen < hi)",
        "a 10-s or 30-s window falls in the next length bucket (short/middle/long)",
        [T_EVAL],
    ),
    Mutant(
        "eval-tvsum-upper-median",
        EVAL,
        "med = np.sort(label, 0)[(len(label) - 1) // 2]",
        "med = np.sort(label, 0)[len(label) // 2]",
        "TVSum positives split at the upper median",
        [T_EVAL],
    ),
    Mutant(
        "eval-hd-no-interpolation",
        EVAL,
        "interp = np.maximum.accumulate(prec[:, ::-1], 1)[:, ::-1]",
        "interp = prec",
        "HD average precision without interpolated precision",
        [T_EVAL],
    ),
]


def module_of(notebook: Path) -> Path:
    "The exported file of a notebook (`#|default_exp a.b` -> videolights/a/b.py)."
    src = "\n".join("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"])
    name = re.search(r"#\|\s*default_exp\s+(\S+)", src).group(1)
    return Path("videolights", *name.split(".")).with_suffix(".py")


def replace_once(text: str, old: str, new: str, where: str) -> str:
    n = text.count(old)
    if n != 1:
        raise SystemExit(f"mutant text occurs {n} times in {where} (expected 1): {old!r}")
    return text.replace(old, new)


def mutate(root: Path, m: Mutant) -> dict:
    "Apply `m` in the notebook (its code cells) and the exported module under `root`; returns the original bytes."
    nb_path, py_path = root / "nbs" / m.notebook, root / module_of(root / "nbs" / m.notebook)
    saved = {nb_path: nb_path.read_bytes(), py_path: py_path.read_bytes()}
    nb = json.loads(saved[nb_path])
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and m.old in "".join(c["source"])]
    replace_once("".join("".join(c["source"]) for c in cells), m.old, m.new, m.notebook)  # exactly once overall
    for c in cells:
        c["source"] = "".join(c["source"]).replace(m.old, m.new).splitlines(keepends=True)
    nb_path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    py_path.write_text(replace_once(py_path.read_text(), m.old, m.new, str(py_path.relative_to(root))))
    return saved


def run(cmd: list, root: Path, timeout: int) -> tuple[int, str, float]:
    env = dict(
        os.environ,
        PYTHONPATH=str(root),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        MPLBACKEND="Agg",
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"),
        TQDM_DISABLE="1",
    )
    t0 = time.time()
    try:
        r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout + r.stderr, time.time() - t0
    except subprocess.TimeoutExpired:
        return -1, "timeout", time.time() - t0


def first_failure(out: str) -> str:
    "The first failing pytest node id in `out` (`FAILED tests/x.py::test[...]`), or a short reason."
    hit = re.search(r"^(?:FAILED|ERROR) (\S+)", out, re.M)
    return hit.group(1) if hit else ("timeout" if out == "timeout" else "failed (see log)")


def check_pytest(root: Path, m: Mutant, full: bool, timeout: int) -> dict:
    "Run the mutant's tests (or the whole fast suite with `full`); caught = some test failed."
    bin_dir = Path(sys.executable).parent
    tests = ["tests/"] if full else m.tests
    rc, out, secs = run(
        [
            str(bin_dir / "python"),
            "-m",
            "pytest",
            "-x",
            "-q",
            "-rfE",
            "-p",
            "no:cacheprovider",
            "-m",
            "not slow",
            *tests,
        ],
        root,
        timeout,
    )
    if rc == 5:
        raise SystemExit(f"{m.name}: pytest collected no test from {tests}")
    return dict(caught=rc != 0, by=first_failure(out) if rc != 0 else "", seconds=round(secs, 1))


def check_notebook(root: Path, m: Mutant, timeout: int) -> dict:
    "Run the module's notebook; caught = the notebook's tests fail."
    bin_dir = Path(sys.executable).parent
    rc, out, secs = run([str(bin_dir / "nbdev_test"), "--path", f"nbs/{m.notebook}", "--n_workers", "1"], root, timeout)
    return dict(caught=rc != 0, seconds=round(secs, 1))


def run_mutant(root: Path, m: Mutant, full: bool, timeout: int) -> dict:
    saved = mutate(root, m)
    try:
        res = dict(name=m.name, notebook=m.notebook, why=m.why, old=m.old, new=m.new)
        res["pytest"] = check_pytest(root, m, full, timeout)
        res["notebook_result"] = check_notebook(root, m, timeout)
    finally:
        for p, b in saved.items():
            p.write_bytes(b)
    return res


def caught_by(r: dict) -> str:
    "What in the README's test command catches mutant result `r`: the first failing test, else its notebook."
    if r["pytest"]["caught"]:
        return f"`{r['pytest']['by']}`"
    return f"`nbs/{r['notebook']}` (nbdev_test)" if r["notebook_result"]["caught"] else "**not caught**"


def table(results: list) -> str:
    "The markdown table of the results."
    rows = [
        "| mutant | module (notebook) | the bug | caught by (README's test command) | own notebook |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        own = "yes" if r["notebook_result"]["caught"] else "**no**"
        rows.append(f"| `{r['name']}` | `{r['notebook']}` | {r['why']} | {caught_by(r)} | {own} |")
    return "\n".join(rows)


def minutes(results: list) -> float:
    return sum(r["pytest"]["seconds"] + r["notebook_result"]["seconds"] for r in results) / 60


def write_docs(results: list):
    "Put the table in the docs page's `mutant-table` cell."
    nb = json.loads(DOCS_NB.read_text())
    by_readme = sum(r["pytest"]["caught"] or r["notebook_result"]["caught"] for r in results)
    by_pytest = sum(r["pytest"]["caught"] for r in results)
    own = sum(r["notebook_result"]["caught"] for r in results)
    text = (
        f"Last run: {len(results)} mutants; {by_readme} caught by the README's test command ({by_pytest} by pytest "
        f"alone), {own} by their own notebook ({minutes(results):.0f} min of test runs).\n\n" + table(results)
    )
    for c in nb["cells"]:
        if c.get("id") == TABLE_CELL:
            c["source"] = text.splitlines(keepends=True)
    DOCS_NB.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="mutants to run (default: all)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--check", action="store_true", help="check that every mutant applies to exactly one line")
    ap.add_argument("--full", action="store_true", help="run the whole fast pytest suite per mutant")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per test run")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ap.add_argument("--previous", type=Path, help="an earlier run's JSON: its results stand for the mutants not run")
    ap.add_argument("--write-docs", action="store_true", help=f"write the table into {DOCS_NB.relative_to(ROOT)}")
    a = ap.parse_args(argv)
    known = {m.name: m for m in MUTANTS}
    unknown = set(a.names) - set(known)
    if unknown:
        ap.error(f"unknown mutants {sorted(unknown)}")
    chosen = [known[n] for n in a.names] if a.names else MUTANTS
    if a.list:
        for m in chosen:
            print(f"{m.name:32s} {m.notebook:28s} {m.why}")
        return 0
    with tempfile.TemporaryDirectory(prefix="videolights-mutants-") as tmp:
        root = Path(tmp) / "repo"
        shutil.copytree(ROOT, root, ignore=IGNORE)
        if a.check:
            for m in chosen:
                for p, b in mutate(root, m).items():
                    p.write_bytes(b)
            print(f"{len(chosen)} mutants apply")
            return 0
        results = []
        for m in chosen:
            r = run_mutant(root, m, a.full, a.timeout)
            results.append(r)
            p, n = r["pytest"], r["notebook_result"]
            print(
                f"{m.name:32s} pytest {'caught by ' + p['by'] if p['caught'] else 'NOT CAUGHT'} ({p['seconds']} s); "
                f"notebook {'caught' if n['caught'] else 'NOT CAUGHT'} ({n['seconds']} s)",
                flush=True,
            )
    if a.previous:
        done = {r["name"]: r for r in json.loads(a.previous.read_text())} | {r["name"]: r for r in results}
        results = [done[m.name] for m in MUTANTS if m.name in done]
    if a.json:
        a.json.write_text(json.dumps(results, indent=1) + "\n")
    if a.write_docs:
        write_docs(results)
    print(table(results))
    return 0 if all(r["notebook_result"]["caught"] for r in results) else 1  # its own notebook, so the README's too


if __name__ == "__main__":
    sys.exit(main())
