"""`python -m videolights.train ...` and `accelerate launch -m videolights.train ...` run `videolights train ...`."""
import sys

from videolights.cli import main

sys.exit(main(["train", *sys.argv[1:]]))
