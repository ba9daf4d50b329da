"""trainer/'s folders are its architecture: no import cycle between its modules nor between its folders,
test support never ships nor is imported by the product, and an old flat module path names its new
place. Imports are read with ast (run-time ones, also inside functions; `if TYPE_CHECKING:` blocks
are type-only and skipped)."""
import ast
import importlib
import re
from pathlib import Path

import pytest

from trainer import MOVED
from trainer.rewards import RewardError, build_reward

ROOT = Path(__file__).resolve().parents[2]
TRAINER = ROOT / "trainer"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(package: Path) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(package.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _run_time_imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The modules of `known` that `path` (module `name`) imports when it runs."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def add(module: str, names: list[str]) -> None:
        for n in names:                      # `from pkg import submodule`
            if f"{module}.{n}" in known:
                found.add(f"{module}.{n}")
                continue
            if module in known:
                found.add(module)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            add(module, [a.name for a in node.names])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    found.discard(name)
    return found


def _graph(package: Path) -> dict[str, set[str]]:
    mods = _modules(package)
    return {name: _run_time_imports(path, name, set(mods)) for name, path in mods.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = dfs(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = dfs(node)
            if found:
                return found
    return None


def _folder(module: str) -> str:
    """trainer.run.train → run; trainer.cli → cli; trainer → trainer."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_the_cycle_finder_finds_a_cycle_and_reads_imports_as_python_does(tmp_path):
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    for f in ("__init__.py", "sub/__init__.py", "sub/x.py", "y.py"):
        (pkg / f).write_text("")
    (pkg / "sub" / "x.py").write_text("from typing import TYPE_CHECKING\nfrom .. import y\n"
                                      "if TYPE_CHECKING:\n    from ..z import Z\n")
    (pkg / "y.py").write_text("def f():\n    from .sub.x import g\n")
    known = {"pkg", "pkg.sub", "pkg.sub.x", "pkg.y", "pkg.z"}
    assert _run_time_imports(pkg / "sub" / "x.py", "pkg.sub.x", known) == {"pkg.y"}      # type-only skipped
    assert _run_time_imports(pkg / "y.py", "pkg.y", known) == {"pkg.sub.x"}             # lazy counted


def test_trainer_modules_import_each_other_without_a_cycle():
    graph = _graph(TRAINER)
    assert len(graph) > 40 and graph["trainer.run.train"], "the import graph was not read"
    assert _cycle(graph) is None, " → ".join(_cycle(graph))


def test_trainer_folders_form_layers_without_a_cycle():
    graph = _graph(TRAINER)
    folders: dict[str, set[str]] = {}
    for module, deps in graph.items():
        folders.setdefault(_folder(module), set()).update(_folder(d) for d in deps if _folder(d) != _folder(module))
    assert _cycle(folders) is None, " → ".join(_cycle(folders))
    assert "cli" not in set().union(*(deps for f, deps in folders.items() if f not in ("cli", "__main__")))


# The layers of docs/ARCHITECTURE.md, lowest first: a folder imports only folders before it.
LAYERS = ["trainer", "errors", "quiet_imports", "config", "backbones", "rewards", "sampling", "data", "adapters",
          "rl", "run", "evaluation", "interop", "cli", "__main__"]


def test_each_folder_imports_only_the_layers_below_it():
    graph = _graph(TRAINER)
    assert {_folder(m) for m in graph} == set(LAYERS), "a new folder: place it in LAYERS and ARCHITECTURE.md"
    wrong = sorted(f"{m} imports {d}" for m, deps in graph.items() for d in deps
                   if LAYERS.index(_folder(d)) > LAYERS.index(_folder(m)))
    assert not wrong, wrong


def test_the_evaluation_never_imports_its_command_line():
    graph = _graph(TRAINER)
    importers = sorted(m for m, deps in graph.items() if "trainer.evaluation.cli" in deps)
    assert importers == ["trainer.cli"], importers


def test_test_support_is_not_shipped_and_the_product_never_imports_it():
    text = (ROOT / "pyproject.toml").read_text()
    packages = re.search(r"^packages = \{ find = \{ include = \[(.*?)\] \} \}", text, re.M)
    includes = re.search(r"^includes = \[(.*?)\]", text, re.M)
    assert packages and includes, "pyproject's [tool.setuptools] packages / [tool.comfy] includes moved"
    patterns = re.findall(r'"([^"]+)"', packages.group(1))
    assert not any(re.fullmatch(p.replace("*", ".*"), "testsupport") for p in patterns), patterns
    assert "testsupport" not in re.findall(r'"([^"]+)"', includes.group(1))
    for product in ("trainer", "pareto_core", "nodes"):
        for path in sorted((ROOT / product).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
                assert not any(n.split(".")[0] == "testsupport" for n in names), f"{path} imports testsupport"


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_flat_module_path_names_its_new_place(old):
    with pytest.raises(ImportError) as err:
        importlib.import_module(f"trainer.{old}")
    new = MOVED[old].split(" ")[0]
    assert f"trainer.{old} moved to {new}" in str(err.value)
    importlib.import_module(new)


def test_a_reward_by_an_old_module_path_names_the_new_one():
    with pytest.raises(RewardError, match=r"trainer\.omega moved to trainer\.rl\.omega"):
        build_reward({"id": "trainer.omega:sample_omegas"})
    with pytest.raises(ImportError, match="trainer.train moved to trainer.run.train"):
        from trainer import train  # noqa: F401
