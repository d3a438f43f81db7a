"""Developer helper: round-trip notebooks through a plain-text "percent" draft.

    python tools/nbtool.py py2nb draft.py nbs/core/03_spans.ipynb   # draft -> notebook (outputs dropped)
    python tools/nbtool.py nb2py nbs/core/03_spans.ipynb draft.py   # notebook -> draft

Draft format (jupytext "percent"): a line `# %%` starts a code cell, `# %% [markdown]` starts a markdown
cell whose lines are commented with `# ` (the prefix is stripped). The notebook stays the source of truth;
drafts are scratch files and are not committed.
"""
import sys, json, re
from pathlib import Path

MD, CODE = "# %% [markdown]", "# %%"


def py2nb(src, dst):
    cells, kind, buf = [], None, []
    def flush():
        if kind is None: return
        lines = buf
        if kind == "markdown": lines = [l[2:] if l.startswith("# ") else l[1:] if l.startswith("#") else l for l in buf]
        text = "\n".join(lines).strip("\n")
        if not text and kind == "code": return
        cell = {"cell_type": kind, "id": f"c{len(cells):04d}", "metadata": {}, "source": text.splitlines(keepends=True)}
        if kind == "code": cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    for line in Path(src).read_text().splitlines():
        if line.strip() == MD: flush(); kind, buf = "markdown", []
        elif line.strip() == CODE: flush(); kind, buf = "code", []
        else:
            if kind is None: kind = "code"
            buf.append(line)
    flush()
    nb = {"cells": cells, "metadata": {"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    Path(dst).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def nb2py(src, dst):
    nb = json.loads(Path(src).read_text())
    out = []
    for c in nb["cells"]:
        out.append(MD if c["cell_type"] == "markdown" else CODE)
        src = "".join(c["source"])
        if c["cell_type"] == "markdown": src = "\n".join(("# " + l) if l else "#" for l in src.split("\n"))
        out.append(src)
        out.append("")
    Path(dst).write_text("\n".join(out))


if __name__ == "__main__":
    cmd, a, b = sys.argv[1:4]
    {"py2nb": py2nb, "nb2py": nb2py}[cmd](a, b)
