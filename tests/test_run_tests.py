"""`tools/run_tests.sh` (the README's test command) fails when pytest collects no test.

The script is run with stand-in executables (`PYTHON` points into a folder of tiny shell scripts), so only its own
logic runs: the README check, ruff and nbdev_test succeed at once and pytest exits with the code under test."""
import os
import stat
import subprocess
from pathlib import Path

import pytest


def fake_bin(tmp_path: Path, pytest_rc: int) -> Path:
    "A folder with `python` (exit `pytest_rc` for `-m pytest`, 0 otherwise), `ruff` and `nbdev_test` (exit 0)."
    b = tmp_path / "bin"
    b.mkdir()
    scripts = {"python": f'if [ "$1 $2" = "-m pytest" ]; then exit {pytest_rc}; fi\nexit 0\n',
               "ruff": "exit 0\n", "nbdev_test": "exit 0\n"}
    for name, body in scripts.items():
        p = b / name
        p.write_text("#!/usr/bin/env bash\n" + body)
        p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return b / "python"


@pytest.mark.parametrize("pytest_rc, expected", [(0, 0), (1, 1), (5, 5)], ids=["passed", "failed", "no-tests"])
def test_run_tests_exit_code(root, tmp_path, pytest_rc, expected):
    env = dict(os.environ, PYTHON=str(fake_bin(tmp_path, pytest_rc)))
    r = subprocess.run(["bash", str(root / "tools" / "run_tests.sh")], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == expected, r.stdout + r.stderr
    assert ("no tests collected" in r.stderr) == (pytest_rc == 5)
