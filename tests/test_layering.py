"""The layers import downwards only: rules <- entries, load <- reports <- Fava pages, and
the command line (scripts) and the importers on top. Nothing under plugins/ imports the
command line, click or the importers; the Fava extension reads only the reports library,
the ledger adapters and the rules."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "plugins"


def imports(path: Path, root: Path = ROOT) -> set[str]:
    """The modules ``path`` imports, relative imports made absolute (the folders under
    ``root`` are packages of ``tokenbooks``, as pyproject.toml maps them)."""
    module = "tokenbooks." + ".".join(path.relative_to(root).with_suffix("").parts)
    parts = module.split(".")[:-1]  # the package a relative import starts from
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[:len(parts) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names)
            else:
                found.add(node.module or "")
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def offenders(paths: list[Path], allowed: tuple[str, ...], forbidden: tuple[str, ...]
              ) -> list[str]:
    out = []
    for path in paths:
        for name in sorted(imports(path)):
            if name.startswith(forbidden) and not name.startswith(allowed):
                out.append(f"{path.relative_to(ROOT)}: {name}")
    return out


def test_the_imports_are_resolved_as_the_package_names_them(tmp_path: Path) -> None:
    found = imports(PLUGINS / "reports" / "rollforward.py")
    assert "tokenbooks.plugins.rules" in found and "tokenbooks.plugins.reports.ledger" in found
    assert "tokenbooks.plugins.reports.rows" in found
    # a page that reached past the reports into the command line is caught
    page = tmp_path / "plugins" / "fava_ext" / "page.py"
    page.parent.mkdir(parents=True)
    page.write_text("from ...scripts import close_cmd\nfrom ..reports import tables\n")
    found = imports(page, tmp_path)
    assert "tokenbooks.scripts.close_cmd" in found and "tokenbooks.plugins.reports" in found


def test_nothing_under_plugins_imports_the_command_line_click_or_the_importers() -> None:
    bad = offenders(modules(PLUGINS), (), ("tokenbooks.scripts", "tokenbooks.importers",
                                          "click"))
    assert bad == []


def test_the_reports_library_knows_no_fava_and_no_command_line() -> None:
    bad = offenders(modules(PLUGINS / "reports"), (),
                    ("fava", "flask", "click", "tokenbooks.scripts", "tokenbooks.importers",
                     "tokenbooks.plugins.fava_ext"))
    assert bad == []


def test_the_fava_extension_reads_only_the_reports_the_adapters_and_the_rules() -> None:
    mine = ("tokenbooks.plugins.fava_ext", "tokenbooks.plugins.reports",
            "tokenbooks.plugins.entries", "tokenbooks.plugins.rules")
    bad = offenders(modules(PLUGINS / "fava_ext"), mine, ("tokenbooks",))
    assert bad == []


def test_the_rules_and_the_adapters_know_no_report_and_no_page() -> None:
    above = ("tokenbooks.plugins.reports", "tokenbooks.plugins.fava_ext",
             "tokenbooks.scripts", "tokenbooks.importers")
    assert offenders(modules(PLUGINS / "rules"), ("tokenbooks.plugins.rules",),
                     ("tokenbooks",)) == []
    assert offenders(modules(PLUGINS / "entries"), (), above) == []
    stages = [PLUGINS / f"{name}.py" for name in ("book", "contracts", "revenue", "cogs",
                                                  "invariants", "lock", "load", "config",
                                                  "errors")]
    assert offenders(stages, (), above) == []
