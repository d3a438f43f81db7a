"""`videolights compare` end to end, `train --eval-test`, and the coverage of the paired-bootstrap interval."""
import json, os, subprocess
from pathlib import Path
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "data/examples/qvhighlights_val_example_submission.jsonl"
ENV = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TQDM_DISABLE="1", MPLBACKEND="Agg")


def run(cmd, args, timeout=600):
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, env=ENV, timeout=timeout)


def test_compare_cli_identical_and_outputs(videolights_cmd, tmp_path):
    r = run(videolights_cmd, ["compare", EX, EX, "--dataset", "qvhighlights", "--split", "val",
                              "--resamples", "2000", "--out", tmp_path / "c.json", "--plot", tmp_path / "f.png"])
    assert r.returncode == 0, r.stderr
    assert "95% CI" in r.stdout and "MR-full-mAP" in r.stdout and "HL-min-VeryGood-Hit1" in r.stdout
    res = json.loads((tmp_path / "c.json").read_text())
    assert {(d["difference"], d["low"], d["high"], d["p_value"]) for d in res["differences"]} == {(0.0, 0.0, 0.0, 1.0)}
    assert (tmp_path / "c.csv").read_text().startswith("metric,submission,value,baseline,difference,low,high,p_value")
    assert (tmp_path / "f.png").stat().st_size > 5000
    assert not list(tmp_path.glob(".*"))  # atomic writes leave no temp file


def test_compare_cli_refuses_in_one_line(videolights_cmd, tmp_path):
    r = run(videolights_cmd, ["compare", EX, EX, "--dataset", "qvhighlights", "--split", "train"])
    assert r.returncode == 2 and "its splits: val, test" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    tv = [json.loads(line) for line in (ROOT / "data/tvsum/tvsum_val.jsonl").read_text().splitlines() if line.strip()]
    sub = tmp_path / "tv.jsonl"
    sub.write_text("".join(json.dumps(dict(qid=d["qid"], pred_saliency_scores=[1.0] * len(d["label"]))) + "\n" for d in tv))
    r = run(videolights_cmd, ["compare", sub, sub, "--dataset", "tvsum", "--split", "val"])
    assert r.returncode == 2 and "only 10 queries" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_bootstrap_coverage_by_simulation():
    "200 simulated pairs on 400 queries with a known true difference: the 95% interval covers it 90-100% of the time."
    from scipy.stats import norm
    from videolights.evaluation.significance import paired_bootstrap
    rng = np.random.default_rng(20)
    z = rng.normal(size=(400, 200))
    shift = 0.3
    a = (z + rng.normal(size=z.shape) > 0).astype(float)
    b = (z + rng.normal(size=z.shape) > shift).astype(float)
    true = norm.cdf(-shift / np.sqrt(2)) - 0.5
    low, high = paired_bootstrap(b - a, np.ones_like(a), n_resamples=2000, seed=5)
    coverage = np.mean((low <= true) & (true <= high))
    assert abs(coverage - 0.95) <= 0.05, coverage


def test_train_eval_test_without_test_split_is_refused_before_training(videolights_cmd, tmp_path):
    "The run itself is in the heldout notebook (test split = val copy: test metrics == val metrics)."
    r = run(videolights_cmd, ["train", "--preset", "tiny", "--eval-test", "--output-dir", tmp_path / "no"])
    assert r.returncode == 2 and "--eval-test needs --dataset" in r.stderr and not (tmp_path / "no").exists()
    assert len(r.stderr.strip().splitlines()) == 1
