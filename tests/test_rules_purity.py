"""The accounting rules (plugins/rules/) never import Beancount."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

RULES = Path(__file__).resolve().parent.parent / "plugins" / "rules"


def test_no_rules_module_imports_beancount():
    offenders = []
    for path in sorted(RULES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            offenders += [f"{path.name}: {n}" for n in names
                          if n.split(".")[0] in ("beancount", "beangulp", "beanquery", "fava")]
    assert offenders == []


def test_importing_every_rules_module_loads_no_beancount():
    modules = [f"tokenbooks.plugins.rules.{p.stem}" for p in sorted(RULES.glob("*.py"))
               if p.stem != "__init__"]
    assert "tokenbooks.plugins.rules.engine" in modules
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print(sorted(m for m in sys.modules if m.split('.')[0] == 'beancount'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
