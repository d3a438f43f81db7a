"""Shared pytest setup: no network, headless plotting, small thread count."""
import os, sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture
def root() -> Path:
    "The repository root."
    return ROOT


@pytest.fixture
def videolights_cmd() -> list:
    "Command prefix that runs the installed `videolights` console script of this interpreter."
    exe = BIN / "videolights"
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from videolights.cli import main; sys.exit(main())"]
