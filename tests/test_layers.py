"""The architecture as a test: imports between dlabs' layers point one way, with no cycles.

Every import in `src/dlabs` is read from the source (lazy imports inside functions included):
`engine` at the bottom (besides config, errors and paths), then `data`, `models`, `report`,
`labs`, `api`; `serve` uses `api` and the lab registry; the CLI uses `api` (and `serve` to start
the server). Reading a lab's config must not import torch, so `dlabs list` stays quick.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "dlabs"
BASE = {"base"}  # config, errors, jsonable, paths and the package itself: usable from every layer
ALLOWED = {
    "base": BASE,
    "engine": BASE | {"engine"},
    "data": BASE | {"engine", "data"},
    "models": BASE | {"engine", "data", "models"},
    "report": BASE | {"engine", "data", "models", "report"},
    "labs": BASE | {"engine", "data", "models", "report", "labs"},
    "api": BASE | {"engine", "data", "models", "report", "labs", "api"},
    "serve": BASE | {"api", "serve", "registry"},
    "cli": BASE | {"api", "serve", "cli"},
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("config", "errors", "jsonable", "paths"):
        return "base"
    if parts[1] == "__main__":
        return "cli"
    if module == "dlabs.labs":
        return "registry"
    return parts[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every dlabs module `path` imports; ``from dlabs.x import y`` names the
    submodule `dlabs.x.y` where there is one."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "dlabs"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "dlabs":
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                is_module = (SRC.parent / Path(*sub.split("."))).with_suffix(".py").is_file() or \
                    (SRC.parent / Path(*sub.split("."))).is_dir()
                out.append((node.lineno, sub if is_module else node.module))
    return out


def _graph() -> dict[str, list[tuple[int, str]]]:
    return {_module(p): _imports(p) for p in sorted(SRC.rglob("*.py"))}


def test_imports_point_one_way():
    broken = []
    for module, imports in _graph().items():
        layer = "registry" if module == "dlabs.labs" else _layer(module)
        allowed = ALLOWED["labs" if layer == "registry" else layer]
        for line, target in imports:
            to = _layer(target)
            if to not in allowed and not (to == "registry" and "labs" in allowed):
                broken.append(f"{module}:{line} imports {target} ({layer} -> {to})")
    assert not broken, "\n".join(broken)


def test_no_import_cycles():
    graph = {m: {t for _, t in imports if t != m} for m, imports in _graph().items()}
    cycles, state = [], {}

    def visit(m, stack):
        state[m] = "open"
        for t in sorted(graph.get(m, ())):
            if state.get(t) == "open":
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t, stack + [t])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(cycles)


def test_the_registry_and_the_cli_do_not_import_torch():
    code = ("import sys, dlabs.cli, dlabs.labs; dlabs.labs.labs(); "
            "[lab.config(p) for lab in dlabs.labs.labs().values() for p in lab.presets]; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'pandas', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_module_sizes():
    too_long = [f"{p.relative_to(SRC)}: {n}" for p in SRC.rglob("*.py")
                if (n := len(p.read_text().splitlines())) > (250 if p.parent.name == "labs" else 300)]
    assert not too_long, "\n".join(too_long)
