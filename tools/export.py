"""`nbdev_export` with `__all__` wrapped to 120 characters.

nbdev 2.4 wraps the list of names at 120 characters and then puts `__all__ = ` in front of the first line, so that line
can reach 130 and fail the project's line-length rule (E501 at 120). This runs the same export with the names wrapped
10 characters shorter; everything else is nbdev's own `nbdev_export`. Use it instead of `nbdev_export`:

    python tools/export.py
"""

import textwrap

import nbdev.maker
from nbdev.doclinks import nbdev_export

PREFIX = len("__all__ = ")


class AllWrapper(textwrap.TextWrapper):
    "The `TextWrapper` nbdev uses for `__all__`, narrowed by the `__all__ = ` that precedes the first line."

    def __init__(self, width=70, **kwargs):
        super().__init__(width=width - PREFIX, **kwargs)


if __name__ == "__main__":
    nbdev.maker.TextWrapper = AllWrapper
    nbdev_export()
