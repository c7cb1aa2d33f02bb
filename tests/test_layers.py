"""The package's layers point one way: a module imports only from its own layer or below.

Read from the source with ``ast``: every ``import`` counts, at module level, inside
functions and under ``if TYPE_CHECKING:``, because each is a dependency a reader has
to follow. Top to bottom:

1. ``cli``: :mod:`release.cli`, :mod:`release.__main__`, and the subcommand modules
   ``cli.COMMANDS`` names (``release.verify.command``, ``release.workflows.command``,
   ``release.workflows.audit_command``). Those are argparse front ends
   (``add_arguments``/``run``) that live beside the code they drive, so they sit with
   the CLI, whatever package holds them; the test checks the list against
   ``COMMANDS``.
2. ``report``, ``workflows``: rendering plans and results; generating and auditing the
   GitHub Actions workflow. Both read loaded pipelines.
3. ``pipeline``: the declarative language: model, loader, graph checks, schema.
4. ``stages``: the stage kinds and their registry.
5. ``engine``, ``signing``, ``oci``, ``github``, ``provenance``, ``verify``, ``pem``,
   ``pypi``: the mechanisms the kinds use. :mod:`release.engine.contract` is the
   stage-kind contract both the engine and the kinds import. ``verify`` is the
   consumer side; it reuses ``github``, ``pypi``, ``signing`` and ``pem`` readers.
6. ``permissions``, ``errors``, ``terminal``, ``filenames``, ``yamlsource`` (YAML with
   positions, for pipeline files, certificate files and workflows alike),
   ``untrusted_json`` (JSON from GitHub, registries and bundles) and the ``release``
   package itself (its ``__version__``).

Packages of one layer may import each other, as long as those imports form no cycle
between packages (``verify -> github`` is fine; ``pypi -> verify`` beside
``verify -> pypi`` is not). And no two modules import each other, directly or round
a loop, anywhere in the package, even within one package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import release

PACKAGE = Path(release.__file__).parent

#: Top to bottom; each entry names the top-level units (``release.<unit>``) of a layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli", "__main__"),
    ("report", "workflows"),
    ("pipeline",),
    ("stages",),
    ("engine", "signing", "oci", "github", "provenance", "verify", "pem", "pypi"),
    ("permissions", "errors", "terminal", "filenames", "yamlsource", "untrusted_json", ""),
)
#: Cycles that came in from concurrent branches while this test was written, each to be
#: broken; any other cycle fails, and so does a listed one once it is gone (strike it).
KNOWN_PACKAGE_CYCLES: frozenset[frozenset[str]] = frozenset()
KNOWN_MODULE_CYCLES: frozenset[frozenset[str]] = frozenset()
#: Modules that sit at the CLI's layer although their package sits lower.
COMMAND_MODULES = frozenset({"release.verify.command", "release.workflows.command",
                             "release.workflows.audit_command"})


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(text: str, module: str, is_package: bool,
            known: dict[str, Path]) -> Iterator[tuple[int, str]]:
    """(line, module) for every import of a ``release`` module in ``module``'s source."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(text, module)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "release":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package[:len(package) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            if base.split(".")[0] != "release":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield node.lineno, sub if sub in known else base


def layer_of(module: str) -> int:
    if module in COMMAND_MODULES:
        return 0
    unit = module.split(".")[1] if "." in module else ""
    for index, units in enumerate(LAYERS):
        if unit in units:
            return index
    raise AssertionError(f"{module} belongs to no layer: add `{unit}` to LAYERS in "
                         f"{Path(__file__).name}, where it truly sits")


def unit_of(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def edges() -> list[tuple[str, int, str, str]]:
    """(file, line, importer, imported) for every import inside the package."""
    known = modules()
    found = []
    for name, path in known.items():
        text = path.read_text(encoding="utf-8")
        for line, target in imports(text, name, path.name == "__init__.py", known):
            found.append((str(path.relative_to(PACKAGE.parent)), line, name, target))
    return found


def describe(layer: int) -> str:
    return ", ".join(u or "release" for u in LAYERS[layer])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_every_import_points_down() -> None:
    upward = [f"{file}:{line}: {src} -> {dst} ({describe(layer_of(src))} -> "
              f"{describe(layer_of(dst))})"
              for file, line, src, dst in edges() if layer_of(dst) < layer_of(src)]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_packages_of_one_layer_form_no_cycle() -> None:
    graph: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for file, line, src, dst in edges():
        a, b = unit_of(src), unit_of(dst)
        if a != b and layer_of(src) == layer_of(dst) and src not in COMMAND_MODULES:
            graph.setdefault(a, set()).add(b)
            where.setdefault((a, b), f"{file}:{line}: {src} -> {dst}")
    loops = [loop for loop in cycles(graph) if frozenset(loop) not in KNOWN_PACKAGE_CYCLES]
    assert not loops, "packages of one layer import each other in a cycle:\n" + "\n".join(
        where[(a, b)] for loop in loops for a in loop for b in loop if (a, b) in where)
    gone = KNOWN_PACKAGE_CYCLES - {frozenset(loop) for loop in cycles(graph)}
    assert not gone, f"no longer a cycle, strike it from KNOWN_PACKAGE_CYCLES: {gone}"


def test_no_module_import_cycle() -> None:
    graph: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for file, line, src, dst in edges():
        if src != dst:
            graph.setdefault(src, set()).add(dst)
            where.setdefault((src, dst), f"{file}:{line}: {src} -> {dst}")
    loops = [loop for loop in cycles(graph) if frozenset(loop) not in KNOWN_MODULE_CYCLES]
    assert not loops, "modules that import each other:\n" + "\n".join(
        where[(a, b)] for loop in loops for a in loop for b in loop if (a, b) in where)
    gone = KNOWN_MODULE_CYCLES - {frozenset(loop) for loop in cycles(graph)}
    assert not gone, f"no longer a cycle, strike it from KNOWN_MODULE_CYCLES: {gone}"


def test_command_modules_are_the_cli_commands() -> None:
    tree = ast.parse((PACKAGE / "cli.py").read_text(encoding="utf-8"))
    named = {elt.elts[1].value for node in ast.walk(tree)
             if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
             and node.target.id == "COMMANDS" and isinstance(node.value, ast.Tuple)
             for elt in node.value.elts
             if isinstance(elt, ast.Tuple) and isinstance(elt.elts[1], ast.Constant)}
    assert named == COMMAND_MODULES


def test_the_walk_sees_every_kind_of_import() -> None:
    """The reader finds imports under TYPE_CHECKING and inside functions, and resolves
    ``from package import submodule`` and relative imports."""
    source = ("from typing import TYPE_CHECKING\n"
              "from release.engine import safefs\n"
              "from . import contract\n"
              "if TYPE_CHECKING:\n    from release.stages.base import StageContext\n"
              "def f():\n    import release.cli\n")
    found = sorted(imports(source, "release.engine.probe", False, modules()))
    assert found == [(2, "release.engine.safefs"), (3, "release.engine.contract"),
                     (5, "release.stages.base"), (7, "release.cli")]
