"""`ablate --launcher local`: one submitit job per run; a job killed while it runs is recorded as failed, a rerun reuses
the finished run and redoes the killed one, and the report equals the one made without the launcher."""
import json, os, signal, subprocess, time
from pathlib import Path
import psutil
import pytest

TOY_CELL = """import json, os, pathlib, time
hold = os.environ.get('TOY_HOLD', '')
t0 = time.time()
while 'model.fra=false' in overrides and hold and os.path.exists(hold) and time.time() - t0 < 120:
    time.sleep(0.2)  # the test kills this job here
m = {'MR-full-R1@0.5': 10.0 + seed + 5 * ('model.fra=false' in overrides), 'HL-min-VeryGood-mAP': 20.0 - seed}
pathlib.Path(out_dir, 'metrics.json').write_text(json.dumps({'metrics': m}))
pathlib.Path(out_dir, 'history.json').write_text(json.dumps([{'step': 1, 'loss': 2.0 - seed}, {'step': 2, 'loss': 1.0}]))
"""
PARAMS = "preset = 'synthetic'\noverrides = []\nseed = 0\ndataset_path = None\nout_dir = '.'\npretrain = False\nconfig = None\n"


def _toy_grid(tmp: Path) -> Path:
    cells = [
        {"cell_type": "code", "id": "p0", "metadata": {"tags": ["parameters"]}, "source": PARAMS, "outputs": [],
         "execution_count": None},
        {"cell_type": "code", "id": "c1", "metadata": {}, "source": TOY_CELL, "outputs": [], "execution_count": None},
    ]
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "python3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    (tmp / "toy.ipynb").write_text(json.dumps(nb))
    (tmp / "data").mkdir()  # the toy notebook reads no data; a dataset folder spares generating the synthetic one
    grid = (f"study: toy\nnotebook: {tmp / 'toy.ipynb'}\ndataset: {tmp / 'data'}\nseeds: 1\n"
            "base: ['train.max_steps=2']\nbaseline: full\narms:\n  full: {}\n  no_fra: {remove: [fra]}\n")
    (tmp / "toy.yaml").write_text(grid)
    return tmp / "toy.yaml"


def _env(cache, hold=""):
    return dict(os.environ, OMP_NUM_THREADS="1", VIDEOLIGHTS_CACHE=str(cache), HF_HUB_OFFLINE="1", TOY_HOLD=str(hold))


def _records(sd: Path) -> dict:
    return {json.loads(p.read_text())["arm"]: json.loads(p.read_text()) for p in (sd / "runs").glob("*/run.json")}


def _kill_job(pid: int):
    "SIGKILL a local submitit job: its controller process and everything under it (the task and its kernel)."
    proc = psutil.Process(pid)
    for p in proc.children(recursive=True) + [proc]:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass


def _wait_for(cond, timeout=120, what=""):
    t0 = time.time()
    while not cond():
        assert time.time() - t0 < timeout, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.mark.slow
def test_killed_job_is_redone_and_finished_run_reused(tmp_path, videolights_cmd, root):
    grid, cache, hold = _toy_grid(tmp_path), tmp_path / "cache", tmp_path / "hold"
    rep, sd = tmp_path / "rep", tmp_path / "rep" / "toy"
    hold.write_text("")  # the no_fra run waits while this file exists
    cmd = videolights_cmd + ["ablate", "--grid", str(grid), "--reports", str(rep), "--launcher", "local", "--jobs", "2"]
    p = subprocess.Popen(cmd, cwd=root, env=_env(cache, hold), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = lambda: _records(sd).get("full", {}).get("status") == "ok"
    jobs = lambda: json.loads((sd / "jobs" / "jobs.json").read_text()) if (sd / "jobs" / "jobs.json").is_file() else {}
    _wait_for(lambda: done() and len(jobs()) == 2, what="the full run to finish while no_fra runs")
    no_fra = next(k for k in jobs() if not (sd / "runs" / k / "run.json").is_file())
    _kill_job(int(jobs()[no_fra]["job_id"]))
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1, out + err
    recs = _records(sd)
    assert recs["no_fra"]["status"] == "failed" and "job ended without a result" in recs["no_fra"]["error"], recs
    assert "FAILED no_fra" in err and "_log.err" in err
    full_before = (sd / "runs" / recs["full"]["run_id"] / "run.json").read_text()
    # rerun: the finished run is reused (its record untouched), the killed one is redone
    hold.unlink()
    r = subprocess.run(cmd, cwd=root, env=_env(cache), capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 done before, 1 to run" in r.stderr
    assert (sd / "runs" / recs["full"]["run_id"] / "run.json").read_text() == full_before
    assert _records(sd)["no_fra"]["status"] == "ok"
    # the same grid without the launcher gives the same report
    rep2 = tmp_path / "rep2"
    cmd2 = videolights_cmd + ["ablate", "--grid", str(grid), "--reports", str(rep2)]
    r = subprocess.run(cmd2, cwd=root, env=_env(cache), capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    for f in ("results.md", "results.csv", "summary.csv", "metrics_long.csv"):
        assert (sd / f).read_text() == (rep2 / "toy" / f).read_text(), f

