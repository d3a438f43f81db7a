"""The QVHighlights test split end to end on a synthetic dataset that carries the whole released test split:
`train --eval-test`, then `predict --split test` -> `eval --dataset qvhighlights --split test`, through the CLI
dispatcher in process (one interpreter start for the module; the subprocess path is covered by test_predict_cli)."""
import json

import pytest

from videolights.cli import main
from videolights.core.io import load_jsonl
from videolights.evaluation.splits import split_ground_truth

TINY_BLOCKS = dict(video_blocks=(("slowfast", 24, 1.0), ("clip", 16, 0.5), ("blip", 8, 0.25)),
                   text_blocks=(("clip", 16, 1.0), ("blip", 8, 0.5)))  # the `tiny` preset's blocks


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    "A 1-epoch `tiny` run with --eval-test on 8 train / 4 val / all 1542 test synthetic queries: (folder, dataset)."
    from videolights.data.synthetic import make_synthetic
    d = tmp_path_factory.mktemp("testsplit")
    ds = make_synthetic("small", out=d / "ds", n_train=8, n_val=4, n_test=None, **TINY_BLOCKS)
    assert main(["train", "--preset", "tiny", "--dataset", str(ds), "--output-dir", str(d / "run"),
                 "--set", "train.n_epoch=1", "--eval-test"]) == 0
    return d, ds


def test_predict_then_eval_test_split(run):
    "`predict --split test` covers exactly the shipped test qids; `eval --split test` is `eval_submission` on them."
    from videolights.evaluation.metrics import eval_submission
    d, ds = run
    gt = load_jsonl(split_ground_truth("qvhighlights", "test"))
    assert main(["predict", "--dataset", str(ds), "--split", "test", "--checkpoint", str(d / "run" / "best"),
                 "--device", "cpu", "--out", str(d / "sub.jsonl")]) == 0
    sub = load_jsonl(d / "sub.jsonl")
    assert len(sub) == len(gt) == 1542
    assert [r["qid"] for r in sub] == [g["qid"] for g in gt]
    assert main(["eval", "--submission", str(d / "sub.jsonl"), "--dataset", "qvhighlights", "--split", "test",
                 "--out", str(d / "metrics.json")]) == 0
    m = json.loads((d / "metrics.json").read_text())
    assert m == eval_submission(sub, gt, "qvhighlights")
    # the run's own test metrics (train --eval-test: the same checkpoint, scored in the training loop) agree
    tm = json.loads((d / "run" / "test_metrics.json").read_text())
    assert tm["brief"] == pytest.approx(m["brief"], abs=1e-6)


def test_eval_test_metrics_are_test_not_val(run):
    "`train --eval-test` wrote test metrics beside the val metrics, with the same keys and other values (other queries)."
    d, ds = run
    tm = json.loads((d / "run" / "test_metrics.json").read_text())
    val = json.loads((d / "run" / "metrics.json").read_text())
    assert set(tm["brief"]) == set(val["brief"]) and tm["brief"] != val["brief"]


def test_synth_cli_test_split(tmp_path, monkeypatch, capsys):
    "`data synth --n-test N|all` asks the generator for N / all (None) test queries, no option for none; junk is refused."
    import videolights.data.synthetic as synthetic
    asked = []
    monkeypatch.setattr(synthetic, "make_synthetic", lambda **kw: asked.append(kw) or kw["out"])
    for extra in (["--n-test", "3"], ["--n-test", "all"], ["--n-test", "0"], []):
        assert main(["data", "synth", "--out", str(tmp_path / "x"), "--n-train", "2"] + extra) == 0
    assert [kw.get("n_test", "absent") for kw in asked] == [3, None, "absent", "absent"]
    assert all(kw["n_train"] == 2 for kw in asked)
    with pytest.raises(SystemExit) as e:
        main(["data", "synth", "--out", str(tmp_path / "x"), "--n-test", "some"])
    assert e.value.code == 2 and "not a count of queries or 'all'" in capsys.readouterr().err
