"""``pip install .`` (a real wheel, not the editable checkout) has everything a book needs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_installs_under_the_tokenbooks_namespace(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels),
         str(ROOT)], capture_output=True, text=True, cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("tokenbooks-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"tokenbooks", wheel.name.split("-py")[0] + ".dist-info"}
    for needed in ("tokenbooks/plugins/contracts.py", "tokenbooks/plugins/rules/model.py",
                   "tokenbooks/importers/__init__.py", "tokenbooks/scripts/cli.py",
                   "tokenbooks/contracts/tokenbooks.schema.json",
                   "tokenbooks/scripts/templates/main.beancount",
                   "tokenbooks/plugins/fava_ext/__init__.py",
                   "tokenbooks/plugins/fava_ext/templates/ContractLiabilities.html",
                   "tokenbooks/plugins/fava_ext/templates/_tokenbooks.html",
                   "tokenbooks/plugins/reports/rollforward.py",
                   "tokenbooks/plugins/entries/usage.py", "tokenbooks/plugins/load.py"):
        assert needed in names, needed

    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
         str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    # From a directory outside the checkout, with the installed copy first on the path.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import tokenbooks, tokenbooks.plugins.contracts as c;"
        "from tokenbooks.scripts.init_book import create_book;"
        "from tokenbooks.plugins.rules.contracts import schema;"
        "import pathlib, datetime;"
        "print(pathlib.Path(tokenbooks.__file__).parent.parent == pathlib.Path(sys.argv[1]));"
        "print(schema()['title']);"
        "print(len(create_book(pathlib.Path('book'), 'T', 'USD', datetime.date(2026, 1, 1))))"
    )
    run = subprocess.run([sys.executable, "-c", code, str(site)], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "tokenbooks", "contracts", "15"]
    check = subprocess.run([str(Path(sys.executable).parent / "bean-check"),
                            str(tmp_path / "book" / "main.beancount")],
                           capture_output=True, text=True,
                           env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert check.returncode == 0, check.stderr


def test_the_checkout_runs_like_an_install() -> None:
    """From the repository's root the ``tokenbooks/`` folder is found first; the
    subpackages are the folders beside it. ``-S``: no site-packages, so no installed
    (or editable) tokenbooks either: the checkout alone."""
    code = ("import tokenbooks.plugins.rules.periods as p, tokenbooks.plugins.rules as r; "
            "print(p.__file__); print(r.__file__)")
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(ROOT / "plugins" / "rules" / "periods.py"),
                                   str(ROOT / "plugins" / "rules" / "__init__.py")]
    done = subprocess.run([sys.executable, "-m", "tokenbooks.scripts.cli", "--help"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "serve" in done.stdout, done.stderr
