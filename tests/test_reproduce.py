"""`videolights reproduce qvhighlights --smoke --seeds 2`: the whole pipeline on the embedded synthetic data within its
budget, a report with the paper's numbers beside ours, labelled synthetic; the same through `--launcher local`, with
the paired column against a "released" submission made from one of the runs' own predictions."""
import csv, json, os, subprocess, time
import pytest

PAPER_B_R1_05 = "| 68.29 |"  # VideoLights-B, MR R1@0.5 on the QVHighlights test set (the original README's table)


def _run(cmd, root, cache):
    env = dict(os.environ, OMP_NUM_THREADS="1", VIDEOLIGHTS_CACHE=str(cache), HF_HUB_OFFLINE="1")
    t0 = time.time()
    r = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env, timeout=600)
    return r, time.time() - t0


@pytest.mark.slow
def test_smoke_report_labelled_synthetic_with_paper_numbers(root, tmp_path, videolights_cmd, monkeypatch):
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
    # a "released" submission: VideoLights-B seed 0's own predictions, 40 queries given their first true moment
    b0 = next(x for x in recs if x["row"] == "VideoLights-B" and x["seed"] == 0)
    ours = [json.loads(x) for x in (sd / "runs" / b0["run_id"] / "val_predictions.jsonl").read_text().splitlines()]
    monkeypatch.setenv("VIDEOLIGHTS_CACHE", str(tmp_path / "cache"))
    from videolights.studies.reproduce import evaluated_split
    from videolights.evaluation.significance import compare_submissions
    split, gt = evaluated_split(b0)
    truth = {g["qid"]: g["relevant_windows"][0] for g in gt}
    released = [dict(p, pred_relevant_windows=[[*truth[p["qid"]], 1.0]]) if i < 40 else p for i, p in enumerate(ours)]
    paper = tmp_path / "released_val.jsonl"
    paper.write_text("".join(json.dumps(x) + "\n" for x in released))
    # through the launcher (one job per run), seed 0 only, into a fresh reports folder: the same runs, the same numbers
    rep2 = tmp_path / "rep2"
    cmd2 = videolights_cmd + ["reproduce", "qvhighlights", "--smoke", "--seeds", "1", "--reports", str(rep2),
                              "--launcher", "local", "--jobs", "2", "--paper-submission", str(paper)]
    r, _ = _run(cmd2, root, tmp_path / "cache")
    assert r.returncode == 0, r.stdout + r.stderr
    sd2 = rep2 / "reproduce-qvhighlights"
    # the paired column of VideoLights-B: ours − released as compare_submissions computes it on the val split
    want = {d["metric"]: d for d in compare_submissions({"released": released, "ours": ours}, gt)["differences"]}
    d = want["MR-full-R1@0.5"]
    assert split == "val" and d["difference"] < 0  # the released file is right on 40 more queries
    cell = f"{d['difference']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}], p={d['p_value']:.3f}"
    line = next(x for x in (sd2 / "README.md").read_text().splitlines() if x.startswith("| VideoLights-B | MR R1@0.5 |"))
    assert line.endswith(f"| {cell} |"), (line, cell)
    assert next(x for x in (sd2 / "README.md").read_text().splitlines()
                if x.startswith("| VideoLights | MR R1@0.5 |")).endswith("| — |")  # only the compared row
