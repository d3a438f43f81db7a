"""`python -m videolights.train ...` / `accelerate launch -m videolights.train ...`: the same as `videolights train ...`."""
import sys

from videolights.cli import main

sys.exit(main(["train", *sys.argv[1:]]))
