"""Project-level checks: README in sync with nbs/index.ipynb, console script, lazy imports."""
import subprocess, sys, json


def test_readme_in_sync(root):
    r = subprocess.run([sys.executable, "tools/make_readme.py", "--check"], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_readme_starts_with_two_commands(root):
    lines = (root / "README.md").read_text().splitlines()
    block = lines[lines.index("```bash") + 1: lines.index("```bash") + 3]
    assert "pip install -r requirements.txt" in block[0] and "videolights" in block[0]
    assert block[1].strip() == "bash tools/run_tests.sh"


def test_console_script_help(videolights_cmd):
    r = subprocess.run(videolights_cmd + ["--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "eval" in r.stdout and "train" in r.stdout


def test_unknown_command_is_an_error(videolights_cmd):
    r = subprocess.run(videolights_cmd + ["frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown command" in r.stderr


def test_config_import_is_light():
    "Importing the config and the CLI must not import torch (heavy imports are lazy)."
    code = "import sys, videolights.core.config, videolights.cli; print(json.dumps('torch' in sys.modules))"
    r = subprocess.run([sys.executable, "-c", "import json;" + code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) is False


def test_environment_yml_mirrors_requirements(root):
    import yaml
    reqs = [l.split("#")[0].strip() for l in (root / "requirements.txt").read_text().splitlines()]
    reqs = [r for r in reqs if r]
    env = yaml.safe_load((root / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert pip == reqs
    assert any(r.startswith("torch==") for r in reqs), "torch must be pinned in the same file"


def test_missing_extra_is_one_line_naming_the_install(tmp_path):
    "`videolights ablate` without the [studies] extra (seaborn blocked here) fails in one line that names the fix."
    code = ("import sys; sys.modules['seaborn'] = None\n"
            "from videolights.cli import main\n"
            "sys.exit(main(['ablate', '--grid', 'ci', '--reports', sys.argv[1]]))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "pip install 'videolights[studies]'" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
