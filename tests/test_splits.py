"""The test split as a first-class split: `videolights eval --dataset qvhighlights --split test` gives the official
Moment-DETR metrics on the released test ground truth (fixtures in tests/fixtures/eval/test_split/, made by the official
script, see the README there), and a split a dataset does not have is a one-line error."""
import contextlib, io, json, sys, warnings
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from eval_submissions import make_submission  # noqa: E402
from videolights.commands.evaluate import eval_command  # noqa: E402
from videolights.core.io import load_jsonl, save_jsonl  # noqa: E402
from videolights.evaluation.splits import split_ground_truth  # noqa: E402

FIX = ROOT / "tests/fixtures/eval/test_split"
TOL = 1e-4  # as the val parity test


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}/")) if isinstance(v, dict) else out.__setitem__(f"{prefix}{k}", v)
    return out


@pytest.fixture(scope="module")
def test_gt():
    return load_jsonl(split_ground_truth("qvhighlights", "test"))


def test_fixtures_present():
    assert len(list(FIX.glob("md_*.json"))) >= 6


@pytest.mark.parametrize("name", sorted(p.name for p in FIX.glob("md_*.json")))
def test_eval_split_test_matches_official(name, test_gt, tmp_path):
    fx = json.loads((FIX / name).read_text())
    assert fx["error"] is None and fx["metrics"]
    save_jsonl(make_submission(test_gt, fx["kind"], seed=fx["seed"]), tmp_path / "sub.jsonl")
    argv = ["--submission", str(tmp_path / "sub.jsonl"), "--dataset", "qvhighlights", "--split", "test",
            "--out", str(tmp_path / "m.json")]
    if fx["kind"] != "example":  # jittered windows may end before they start; the official scores them as written
        argv.append("--allow-inverted")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        assert eval_command(argv) == 0
    ours, ref = _flat(json.loads((tmp_path / "m.json").read_text())), _flat(fx["metrics"])
    assert not set(ref) - set(ours), sorted(set(ref) - set(ours))[:5]
    worst = max(ref, key=lambda k: abs(ours[k] - ref[k]))
    assert abs(ours[worst] - ref[worst]) <= TOL, f"{name}: {worst} ours={ours[worst]} official={ref[worst]}"
    assert len(ref) == 104


def test_unknown_split_is_one_line(videolights_cmd, tmp_path):
    import subprocess
    sub = ROOT / "data/examples/qvhighlights_val_example_submission.jsonl"
    r = subprocess.run(videolights_cmd + ["eval", "--submission", str(sub), "--dataset", "charades", "--split", "val"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "charades has no split 'val'; its splits: test" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
