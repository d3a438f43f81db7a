"""Speed of the full QVHighlights val evaluation (1550 queries, MR + HD).

    python benchmarks/eval_speed.py [--repeats 5] [--official /path/to/moment_detr]

Times `eval_submission` in-process (median over repeats, inputs already loaded) and the whole `videolights eval`
process (median over repeats, interpreter start included). With `--official DIR` (a checkout of the official
Moment-DETR code, which needs scikit-learn; `--official-pythonpath` adds e.g. a folder holding it) the official
`standalone_eval/eval.py` is timed once as a whole process on the same files, for comparison. The last line is JSON.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUB = ROOT / "data/examples/qvhighlights_val_example_submission.jsonl"
GT = ROOT / "data/qvhighlights/highlight_val_release.jsonl"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--official", default=None, help="directory containing standalone_eval/ (outside this repo)")
    ap.add_argument("--official-pythonpath", default="", help="extra PYTHONPATH for the official script (e.g. scikit-learn)")
    a = ap.parse_args()
    from videolights.evaluation.metrics import eval_submission
    from videolights.core.io import load_jsonl
    sub, gt = load_jsonl(SUB), load_jsonl(GT)
    t = []
    for _ in range(a.repeats):
        t0 = time.perf_counter(); eval_submission(sub, gt); t.append(time.perf_counter() - t0)
    inproc = statistics.median(t)
    exe = Path(sys.executable).parent / "videolights"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from videolights.cli import main; sys.exit(main())"]
    tp = []
    with tempfile.TemporaryDirectory() as td:
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            subprocess.run(cmd + ["eval", "--submission", str(SUB), "--gt", str(GT), "--out", f"{td}/m.json"], check=True, capture_output=True)
            tp.append(time.perf_counter() - t0)
        official = None
        if a.official:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in [a.official, a.official_pythonpath] if p))
            t0 = time.perf_counter()
            subprocess.run([sys.executable, f"{a.official}/standalone_eval/eval.py", "--submission_path", str(SUB), "--gt_path", str(GT),
                            "--save_path", f"{td}/official.json", "--not_verbose"], check=True, capture_output=True, env=env, cwd=a.official)
            official = time.perf_counter() - t0
    res = dict(queries=len(gt), inprocess_median_s=round(inproc, 4), process_median_s=round(statistics.median(tp), 4),
               official_process_s=None if official is None else round(official, 3),
               speedup_process=None if official is None else round(official / statistics.median(tp), 1),
               speedup_inprocess=None if official is None else round(official / inproc, 1), cpus=os.cpu_count())
    print(f"in-process median {inproc:.3f} s, whole process median {statistics.median(tp):.3f} s" +
          ("" if official is None else f", official script {official:.2f} s"))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
