"""`videolights reproduce qvhighlights --smoke --seeds 2`: the whole pipeline on the embedded synthetic data within its
budget, a report with the paper's numbers beside ours, labelled synthetic; the same through `--launcher local`."""
import csv, json, os, subprocess, time
import pytest

PAPER_B_R1_05 = "| 68.29 |"  # VideoLights-B, MR R1@0.5 on the QVHighlights test set (the original README's table)


def _run(cmd, root, cache):
    env = dict(os.environ, OMP_NUM_THREADS="1", VIDEOLIGHTS_CACHE=str(cache), HF_HUB_OFFLINE="1")
    t0 = time.time()
    r = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env, timeout=600)
    return r, time.time() - t0


@pytest.mark.slow
def test_smoke_report_labelled_synthetic_with_paper_numbers(root, tmp_path, videolights_cmd):
    rep = tmp_path / "rep"
    cmd = videolights_cmd + ["reproduce", "qvhighlights", "--smoke", "--seeds", "2", "--reports", str(rep)]
    r, seconds = _run(cmd, root, tmp_path / "cache")  # a fresh cache: the synthetic data is generated too
    assert r.returncode == 0, r.stdout + r.stderr
    assert seconds < 180, seconds  # the budget on this 2-core machine
    sd = rep / "reproduce-qvhighlights"
    readme = (sd / "README.md").read_text()
    assert readme.splitlines()[0].startswith("# SYNTHETIC smoke run, numbers not comparable with the paper")
    assert PAPER_B_R1_05 in readme and "| VideoLights | MR R1@0.5 |" in readme and "95% bootstrap" in readme
    assert "`VideoLights-pt`: needs a model pretrained" in readme
    for f in ("results.csv", "metrics_long.csv", "environment.txt", "provenance.json", "figures/metrics.png"):
        assert (sd / f).is_file(), f
    rows = list(csv.DictReader((sd / "results.csv").open()))
    assert {(x["row"], x["n"]) for x in rows} == {("VideoLights", "2"), ("VideoLights-B", "2")}
    for x in rows:  # the difference is ours minus the paper's, the interval brackets the mean
        assert float(x["difference"]) == pytest.approx(float(x["mean"]) - float(x["paper"]), abs=1e-9)
        assert float(x["low"]) <= float(x["mean"]) <= float(x["high"])
    recs = [json.loads(p.read_text()) for p in (sd / "runs").glob("*/run.json")]
    assert len(recs) == 4 and all(x["status"] == "ok" and x["hardware"]["cores"] for x in recs)
    assert len({x["environment"] for x in recs}) == 1
    # through the launcher (one job per run), seed 0 only, into a fresh reports folder: the same runs, the same numbers
    rep2 = tmp_path / "rep2"
    cmd2 = videolights_cmd + ["reproduce", "qvhighlights", "--smoke", "--seeds", "1", "--reports", str(rep2),
                              "--launcher", "local", "--jobs", "2"]
    r, _ = _run(cmd2, root, tmp_path / "cache")
    assert r.returncode == 0, r.stdout + r.stderr
    sd2 = rep2 / "reproduce-qvhighlights"
    jobs = json.loads((sd2 / "jobs" / "jobs.json").read_text())
    assert len(jobs) == 2
    for rid in jobs:
        assert json.loads((sd2 / "runs" / rid / "metrics.json").read_text())["metrics"] == json.loads(
            (sd / "runs" / rid / "metrics.json").read_text())["metrics"], rid
