"""`videolights ablate`: grid validation before anything runs, the CI grid end to end (notebooks execute, reports appear),
resume, determinism, and a failing run that does not stop the others."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest

GRID_CI = "videolights/studies/grids/ci.yaml"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    "One synthetic-dataset cache for the module (the dataset is generated once, on first use)."
    return tmp_path_factory.mktemp("vl-cache")


def _run(cmd, root, cache, **kw):
    env = dict(os.environ, OMP_NUM_THREADS="1", VIDEOLIGHTS_CACHE=str(cache), HF_HUB_OFFLINE="1")
    return subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env, **kw)


@pytest.mark.parametrize("arm, needle", [
    ("x: {remove: [FRA]}", "valid components: fra, bicmf, mr2hd"),
    ("x: {overrides: [model.no_such=1]}", "unknown field 'model.no_such'"),
    ("x: {params: {learning_rate: 1}}", "unknown notebook parameter(s) ['learning_rate']"),
    ("x: {drop: {video: [i3d]}}", "valid: ['slowfast', 'clip', 'blip']"),
])
def test_bad_grid_fails_before_running(root, tmp_path, cache, videolights_cmd, arm, needle):
    grid = (root / GRID_CI).read_text().rstrip() + f"\n  {arm}\n"
    (tmp_path / "bad.yaml").write_text(grid)
    r = _run(videolights_cmd + ["ablate", "--grid", str(tmp_path / "bad.yaml"), "--reports", str(tmp_path / "rep")], root, cache)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "error" in r.stderr
    assert not (tmp_path / "rep").exists()  # nothing ran


def test_dry_run_lists_runs(root, tmp_path, cache, videolights_cmd):
    r = _run(videolights_cmd + ["ablate", "--grid", GRID_CI, "--dry-run", "--reports", str(tmp_path / "rep")], root, cache)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2 and all(" todo " in l for l in lines)


@pytest.mark.slow
def test_ci_grid_end_to_end_resume_and_determinism(root, tmp_path, cache, videolights_cmd):
    rep = tmp_path / "rep"
    r = _run(videolights_cmd + ["ablate", "--grid", GRID_CI, "--reports", str(rep), "--jobs", "2"], root, cache)
    assert r.returncode == 0, r.stdout + r.stderr
    sd = rep / "ci"
    for f in ("README.md", "results.md", "results.csv", "summary.csv", "metrics_long.csv", "grid.yaml", "provenance.json",
              "figures/deltas.png", "figures/curves.png"):
        assert (sd / f).is_file(), f
    assert "[ci](ci/README.md)" in (rep / "index.md").read_text()
    runs = sorted((sd / "runs").iterdir())
    assert len(runs) == 2
    for d in runs:
        for f in ("component.ipynb", "metrics.json", "history.json", "config.json", "provenance.json", "run.json"):
            assert (d / f).is_file(), (d, f)
        assert json.loads((d / "run.json").read_text())["status"] == "ok"
    readme = (sd / "README.md").read_text()
    assert "w/o FRA" in readme and "±" in readme and "git_commit" not in readme and "commit `" in readme
    kept = sorted(p.name for p in (sd / "notebooks").glob("*.ipynb"))  # one executed notebook per arm, linked
    assert len(kept) == 2, kept
    assert all(f"(notebooks/{name})" in readme for name in kept), readme
    m1 = {d.name: json.loads((d / "metrics.json").read_text())["metrics"] for d in runs}
    # resume: nothing re-runs (run records untouched)
    before = {d.name: (d / "run.json").read_text() for d in runs}
    r = _run(videolights_cmd + ["ablate", "--grid", GRID_CI, "--reports", str(rep)], root, cache)
    assert r.returncode == 0, r.stderr
    assert {d.name: (d / "run.json").read_text() for d in runs} == before
    # a run folder of earlier settings is reported, and deleted only with --prune (the grid's runs stay)
    old = sd / "runs" / "0123456789ab"; old.mkdir(); (old / "run.json").write_text("{}")
    r = _run(videolights_cmd + ["ablate", "--grid", GRID_CI, "--reports", str(rep)], root, cache)
    assert r.returncode == 0 and old.is_dir() and "--prune" in r.stdout + r.stderr, r.stderr
    r = _run(videolights_cmd + ["ablate", "--grid", GRID_CI, "--reports", str(rep), "--prune"], root, cache)
    assert r.returncode == 0 and not old.exists(), r.stderr
    assert {d.name: (d / "run.json").read_text() for d in runs} == before
    assert "| 2 |" in (rep / "index.md").read_text()                      # the index counts the grid's runs again
    # determinism: the same parameters in a fresh reports folder reproduce the metrics
    rep2 = tmp_path / "rep2"
    r = _run(videolights_cmd + ["ablate", "--grid", GRID_CI, "--reports", str(rep2)], root, cache)
    assert r.returncode == 0, r.stderr
    m2 = {d.name: json.loads((d / "metrics.json").read_text())["metrics"] for d in sorted((rep2 / "ci" / "runs").iterdir())}
    assert m1.keys() == m2.keys()
    for k in m1:
        assert m1[k].keys() == m2[k].keys()
        for key in m1[k]: assert m1[k][key] == pytest.approx(m2[k][key], abs=1e-6), (k, key)


@pytest.mark.slow
def test_failing_run_is_reported_and_others_continue(root, tmp_path, cache, videolights_cmd):
    nb = json.loads((root / "videolights/studies/notebooks/component.ipynb").read_text())
    i = next(i for i, c in enumerate(nb["cells"]) if "parameters" in c.get("metadata", {}).get("tags", []))
    nb["cells"].insert(i + 1, {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "id": "boom0001",
                               "source": ["assert 'model.mr2hd=false' not in overrides, 'boom: this arm fails on purpose'"]})
    (tmp_path / "failing.ipynb").write_text(json.dumps(nb))
    grid = (root / GRID_CI).read_text().replace("notebook: component.ipynb", f"notebook: {tmp_path / 'failing.ipynb'}")
    grid = grid.rstrip() + "\n  w/o MR->HD: {remove: [mr2hd]}\n"
    (tmp_path / "g.yaml").write_text(grid)
    rep = tmp_path / "rep"
    r = _run(videolights_cmd + ["ablate", "--grid", str(tmp_path / "g.yaml"), "--reports", str(rep)], root, cache)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED w/o MR->HD" in r.stderr and "failing.ipynb" in r.stderr and "boom" in r.stderr
    recs = [json.loads(p.read_text()) for p in (rep / "ci" / "runs").glob("*/run.json")]
    assert sorted(x["status"] for x in recs) == ["failed", "ok", "ok"]
    bad = next(x for x in recs if x["status"] == "failed")
    assert Path(bad["executed_notebook"]).is_file()
    assert "## Failed runs" in (rep / "ci" / "README.md").read_text()
