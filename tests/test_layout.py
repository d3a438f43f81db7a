"""Guards for the package layout: no import cycles (function-level imports included), the stack rules, module size."""
import ast
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "videolights"
MAX_LINES = 600
SUBPACKAGES = ("core", "data", "model", "criterion", "evaluation", "train", "apps", "studies", "testing", "commands")
# which rooms a room may import (besides itself); anything else is a layering error
ALLOWED = {
    "core": set(),
    "evaluation": {"core"},
    "data": {"core", "evaluation"},
    "model": {"core"},
    "criterion": {"core", "model"},
    "train": {"core", "evaluation", "data", "model", "criterion"},
    "apps": {"core", "evaluation", "data", "model"},
    "studies": {"core", "evaluation", "data", "model", "criterion", "train"},
    "testing": {"core", "evaluation", "data", "model", "criterion", "train", "apps"},
    "pages": {"core"},
    "docs": {"core", "pages"},
    "commands": {"core", "evaluation", "data", "model", "criterion", "train", "apps", "studies", "docs"},
    "cli": {"core", "commands"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library_modules() -> dict:
    "Module name -> path of every exported module (not `_modidx`)."
    return {module_name(p): p for p in PKG.rglob("*.py") if p.name != "_modidx.py"}


def imported_modules(path: Path, name: str) -> list:
    "(videolights module, line, at module level) for every import in `path`, function-level ones included."
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for t in targets:
            if t.startswith("videolights"):
                found.append((t, node.lineno, id(node) in top))
    return found


def import_graph() -> dict:
    mods = library_modules()
    graph = {}
    for name, path in mods.items():
        deps = set()
        for target, _, _ in imported_modules(path, name):
            while target and target not in mods:
                target = target.rpartition(".")[0]
            if target and target != name and target != "videolights":
                deps.add(target)
        graph[name] = deps
    return graph


def find_cycle(graph: dict):
    "One import cycle as a list of modules, or None."
    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                cycle = visit(dep, stack)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "videolights"


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_rooms_import_only_downwards():
    bad = []
    for module, deps in import_graph().items():
        here = room(module)
        if here not in ALLOWED or module.endswith(".__main__"):  # entry points run the CLI
            continue
        for dep in deps:
            there = room(dep)
            if there != here and there not in ALLOWED[here]:
                bad.append(f"{module} imports {dep}")
    assert not bad, bad


def test_nothing_imports_cli():
    "Only entry points (`python -m videolights.train`) may import the CLI; nothing imports an entry point."
    users = [m for m, deps in import_graph().items() if "videolights.cli" in deps and not m.endswith(".__main__")]
    assert not users, users


def test_enough_subpackages_and_no_module_over_the_limit():
    present = [p for p in SUBPACKAGES if (PKG / p / "__init__.py").is_file()]
    assert len(present) >= 4, present
    sizes = {name: len(path.read_text().splitlines()) for name, path in library_modules().items()}
    assert max(sizes.values()) <= MAX_LINES, {n: s for n, s in sizes.items() if s > MAX_LINES}


def test_library_never_reads_tests_or_tools():
    hits = []
    for name, path in library_modules().items():
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if '"tests"' in line or "'tests'" in line or "tests/" in line or '"tools"' in line or "tools/" in line:
                hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not hits, hits


def test_own_imports_inside_functions_are_only_cli_dispatch():
    "Function-level imports of our own modules hide the graph; only the commands (lazy: `eval` never imports torch) may."
    hidden = []
    for name, path in library_modules().items():
        if name == "videolights.cli" or name.startswith("videolights.commands."):
            continue
        for target, line, at_top in imported_modules(path, name):
            if not at_top and target != "videolights.__version__":
                hidden.append(f"{name}:{line} {target}")
    assert not hidden, hidden


def test_eval_runs_without_torch(tmp_path):
    "`videolights eval` on the shipped example submission, in a process where importing torch fails."
    sub = ROOT / "data/examples/qvhighlights_val_example_submission.jsonl"
    gt = ROOT / "data/qvhighlights/highlight_val_release.jsonl"
    code = ("import sys; sys.modules['torch'] = None\n"
            "from videolights.cli import main\n"
            f"rc = main(['eval', '--submission', {str(sub)!r}, '--gt', {str(gt)!r}, '--out', {str(tmp_path / 'm.json')!r}])\n"
            "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None], 'torch was imported'\n"
            "sys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "MR-full-R1@0.5" in r.stdout
    assert (tmp_path / "m.json").is_file()
