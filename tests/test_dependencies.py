"""Every third-party module the product imports is a declared dependency of it (a fresh
install has only those: numpy once came only through pandas, and `make demo` on a new
machine failed when pandas went), and every declared dependency is one it uses."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("plugins", "importers", "scripts", "tokenbooks")
# distribution name -> the module it installs, where they differ
MODULE_OF = {"pyyaml": "yaml"}
OPTIONAL = {"pyspark"}  # the `spark` extra: imported only by the Spark job
# declared for its command, not imported: `bean-query`, which the docs send users to for
# their own queries of the books (the tests query the generated entries with it)
TOOLS = {"beanquery"}


def declared() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {}
    for requirement in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()  # type: ignore[union-attr]
        names[MODULE_OF.get(name, name.replace("-", "_"))] = name
    return names


def imported() -> dict[str, str]:
    found: dict[str, str] = {}
    for folder in PRODUCT:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top != "tokenbooks":
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_imported_module_is_declared():
    missing = {module: where for module, where in imported().items()
               if module not in declared() and module not in OPTIONAL}
    assert missing == {}, f"imported but not in pyproject's dependencies: {missing}"


def test_every_declared_dependency_is_used():
    unused = set(declared()) - set(imported()) - {MODULE_OF.get(t, t) for t in TOOLS}
    assert unused == set(), f"declared but never imported: {sorted(unused)}"
