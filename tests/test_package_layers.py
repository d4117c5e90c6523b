"""The architecture of the README, checked on the code's own imports: each package imports only packages below it
(no import circle between them, nothing imports upward), the engines import no command-line UI, and ``extract/``
never imports ``probe/``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LAYERS: tuple[tuple[str, ...], ...] = (
    ("probe.cli",),
    ("probe.commands",),
    ("probe.report", "probe.cluster"),
    ("probe.run",),
    ("probe.train",),
    ("probe.data", "probe.results"),
    ("extract",),
)
"""Top to bottom, as the README draws them; a package may import its own layer's modules only from itself."""

UI = ("typer", "rich", "probe.commands", "probe.cli")


def _package(module: str) -> str | None:
    for layer in LAYERS:
        for package in layer:
            if module == package or module.startswith(package + "."):
                return package
    return None


def _level(package: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if package in layer)


def _imports() -> list[tuple[str, str, int]]:
    """``(importing module, imported module, line)`` for every absolute import in probe/ and extract/."""
    found = []
    for top in ("probe", "extract"):
        for path in sorted((ROOT / top).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.append((module, node.module, node.lineno))
                elif isinstance(node, ast.Import):
                    found += [(module, alias.name, node.lineno) for alias in node.names]
    return found


def test_every_module_belongs_to_a_drawn_package() -> None:
    modules = {importer for importer, _, _ in _imports()}
    assert modules and all(_package(m) for m in modules if m not in ("probe", "extract")), \
        sorted(m for m in modules if _package(m) is None and m not in ("probe", "extract"))


def _upward(imports: list[tuple[str, str, int]]) -> list[str]:
    """The imports of a package on the same layer or a higher one."""
    wrong = []
    for importer, imported, line in imports:
        source, target = _package(importer), _package(imported)
        if source and target and source != target and _level(target) <= _level(source):
            wrong.append(f"{importer}:{line} imports {imported}")
    return wrong


def test_no_package_imports_a_package_above_or_beside_it() -> None:
    assert _upward(_imports()) == []


def test_the_check_sees_an_upward_or_sideways_import() -> None:
    """The rule is not vacuous: planted imports against the drawing are caught, downward ones are not."""
    planted = [("probe.train.fit", "probe.run.runner", 1), ("probe.cluster.tasks", "probe.report.build", 2),
               ("extract.engine", "probe.results.records", 3), ("probe.run.runner", "probe.train.fit", 4)]
    assert _upward(planted) == ["probe.train.fit:1 imports probe.run.runner",
                                "probe.cluster.tasks:2 imports probe.report.build",
                                "extract.engine:3 imports probe.results.records"]


def test_engines_import_no_command_line_ui() -> None:
    wrong = [f"{importer}:{line} imports {imported}" for importer, imported, line in _imports()
             if _package(importer) not in ("probe.cli", "probe.commands")
             and any(imported == ui or imported.startswith(ui + ".") for ui in UI)]
    assert wrong == []
