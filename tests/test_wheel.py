"""An installed wheel works outside the checkout: build a wheel of the working tree, install it into a bare folder that
shadows the editable install, and from a folder outside the repository run `videolights ablate` (one tiny run of the
shipped `component` notebook, found by name) and `videolights eval`."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest

BUILD_INPUTS = ("setup.py", "pyproject.toml", "settings.ini", "README.md", "MANIFEST.in", "LICENSE")
NOT_PACKAGE_FILES = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")

# One arm x one seed x one optimizer step of the tiny model of grids/ci.yaml; the notebook is the shipped one, by name.
GRID = """\
study: wheel
title: wheel smoke run
notebook: component
preset: synthetic
seeds: 1
base: ["train.max_steps=1", "train.max_minutes=-1", "train.n_epoch=1", "train.eval_every=1", "train.bsz=8",
       "model.hidden_dim=32", "model.nheads=4", "model.dim_feedforward=64", "model.enc_layers=1", "model.dec_layers=2",
       "model.num_queries=5", "model.contrastive_hdim=16"]
arms:
  full: {}
"""

PROBE = """\
import json, importlib.metadata as md
import videolights, videolights.studies.grid as grid
print(json.dumps({"module": videolights.__file__, "notebooks": str(grid.NB_DIR),
                  "dist": str(md.distribution("videolights").locate_file("videolights"))}))
"""


def _files(folder: Path) -> list:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith("."))


def _build_wheel(root: Path, tmp: Path) -> Path:
    """Build the wheel from a copy of the build inputs: building in the checkout would write build/ and *.egg-info
    there, and setuptools would ship whatever a stale build/lib still holds (modules deleted from the tree)."""
    src = tmp / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        if (root / name).is_file():
            shutil.copy2(root / name, src / name)
    shutil.copytree(root / "videolights", src / "videolights", ignore=NOT_PACKAGE_FILES)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    build = ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", ".", "-w", str(tmp / "dist")]
    r = subprocess.run(pip + build, cwd=src, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    wheels = list((tmp / "dist").glob("videolights-*.whl"))
    assert len(wheels) == 1, wheels
    install = ["install", "--no-deps", "--no-index", "-q", "--target", str(tmp / "site"), str(wheels[0])]
    r = subprocess.run(pip + install, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    missing = sorted(set(_files(src / "videolights")) - set(_files(tmp / "site" / "videolights")))
    assert not missing, f"package files the wheel does not ship (setup.py package_data, MANIFEST.in): {missing}"
    return tmp / "site"


@pytest.mark.slow
def test_wheel_runs_ablate_and_eval_outside_the_checkout(root, tmp_path):
    assert not tmp_path.resolve().is_relative_to(root), "the temp folder must lie outside the checkout"
    site = _build_wheel(root, tmp_path)
    work, cache, reports = tmp_path / "work", tmp_path / "cache", tmp_path / "reports"
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=str(site), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", VIDEOLIGHTS_CACHE=str(cache))

    def run(*args, timeout=600):
        cmd = [sys.executable, *args]
        return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)

    # the wheel's copy shadows the editable install: module, package data and distribution metadata
    r = run("-c", PROBE, timeout=120)
    assert r.returncode == 0, r.stderr
    for key, path in json.loads(r.stdout).items():
        assert Path(path).resolve().is_relative_to(site.resolve()), (key, path)

    (work / "one.yaml").write_text(GRID)
    r = run("-m", "videolights.cli", "ablate", "--grid", str(work / "one.yaml"), "--reports", str(reports))
    assert r.returncode == 0, r.stdout + r.stderr
    sd = reports / "wheel"
    assert (sd / "README.md").is_file()
    runs = list((sd / "runs").iterdir())
    assert len(runs) == 1, runs
    assert (runs[0] / "metrics.json").is_file()
    rec = json.loads((runs[0] / "run.json").read_text())
    assert rec["status"] == "ok", rec
    meta = json.loads((runs[0] / "component.ipynb").read_text())["metadata"]["papermill"]
    assert Path(meta["input_path"]).resolve().is_relative_to(site.resolve()), meta["input_path"]

    r = run("-m", "videolights.cli", "eval", "--submission",
            str(root / "data/examples/qvhighlights_val_example_submission.jsonl"),
            "--gt", str(root / "data/qvhighlights/highlight_val_release.jsonl"), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "MR-full-mAP" in r.stdout

    # the evaluation splits are package data: `--split` resolves them from the wheel (issue #20)
    ex = str(root / "data/examples/qvhighlights_val_example_submission.jsonl")
    r = run("-m", "videolights.cli", "compare", ex, ex, "--dataset", "qvhighlights", "--split", "val",
            "--resamples", "200", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "MR-full-mAP" in r.stdout and "[  0.00,   0.00]" in r.stdout
    probe = "from videolights.evaluation.splits import split_ground_truth as s; print(s('qvhighlights', 'test'))"
    r = run("-c", probe, timeout=120)
    assert r.returncode == 0 and Path(r.stdout.strip()).resolve().is_relative_to(site.resolve()), r.stdout + r.stderr
