"""Write data/examples/qvhighlights_val_example_submission.jsonl: a deterministic, imperfect but non-trivial
submission over the whole QVHighlights val set (jittered GT windows among distractors, noisy saliency).

    python tools/make_example_submission.py [--seed 0] [--out PATH]
"""
import argparse, json, sys
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from eval_submissions import make_submission

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gt", default=str(ROOT / "data/qvhighlights/highlight_val_release.jsonl"))
    ap.add_argument("--out", default=str(ROOT / "data/examples/qvhighlights_val_example_submission.jsonl"))
    a = ap.parse_args()
    gt = [json.loads(l) for l in open(a.gt) if l.strip()]
    sub = make_submission(gt, "example", seed=a.seed)
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp"); tmp.write_text("".join(json.dumps(r) + "\n" for r in sub)); tmp.replace(out)
    print(f"wrote {len(sub)} records to {out}")
