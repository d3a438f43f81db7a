"""Run the official moment_detr standalone_eval on deterministic submissions; write metrics-only fixtures.
usage: run_official.py GT OUTDIR KIND...   (PYTHONPATH must hold the moment_detr checkout and the sklearn shim)"""
import json, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eval_submissions import make_submission
from standalone_eval.eval import eval_submission
from standalone_eval.utils import load_jsonl

gt_path, out = sys.argv[1], Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
gt = load_jsonl(gt_path)
for kind in sys.argv[3:]:
    sub = make_submission(gt, kind, seed=0)
    sub = json.loads(json.dumps(sub))
    try:
        m, err = eval_submission(sub, gt, verbose=False), None
    except Exception as e:  # noqa
        m, err = None, f"{type(e).__name__}: {e}"
    rec = dict(kind=kind, seed=0, script="md", metrics=m, error=err)
    (out / f"md_{kind}.json").write_text(json.dumps(rec, indent=1) + "\n")
    print(kind, err, m and m["brief"])
