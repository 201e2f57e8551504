"""``tokenbooks init``: a new book that passes bean-check at once, and the CLI surface."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenbooks.scripts.cli import cli

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def bean_check(main: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "bean-check"), str(main)], capture_output=True, text=True)


def test_init_creates_the_layout_of_a_book(tmp_path):
    book = tmp_path / "books"
    result = CliRunner().invoke(cli, ["init", str(book), "--start", "2026-01-01",
                                      "--title", "Test Books"])
    assert result.exit_code == 0, result.output
    assert f"bean-check {book / 'main.beancount'}" in result.output
    for name in ("main.beancount", "accounts.beancount", "contracts/tokenbooks.schema.json",
                 "contracts/price-books/list.yaml", "imports", "documents", "reports",
                 "contracts/customers", "contracts/costs"):
        assert (book / name).exists(), name
    main = (book / "main.beancount").read_text()
    assert ('plugin "tokenbooks.plugins.book" "{\'contracts\': \'contracts\', '
            '\'posting\': \'month\', \'grain\': \'day\'}"') in main
    assert 'option "title" "Test Books"' in main
    assert "2026-01-01 open Income:Revenue:Usage" in (book / "accounts.beancount").read_text()


def test_a_new_book_passes_bean_check(tmp_path):
    book = tmp_path / "books"
    assert CliRunner().invoke(cli, ["init", str(book)]).exit_code == 0
    run = bean_check(book / "main.beancount")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""


def test_a_new_book_with_a_customer_added_passes_bean_check(tmp_path):
    book = tmp_path / "books"
    assert CliRunner().invoke(cli, ["init", str(book), "--start", "2026-01-01"]).exit_code == 0
    example = book / "contracts" / "customers" / "customer.yaml.example"
    target = book / "contracts" / "customers" / "example.yaml"
    target.write_text(example.read_text().replace("price_book: list  ", "price_book: list"))
    run = bean_check(book / "main.beancount")
    assert run.returncode == 0, run.stderr
    # And a purchase against the customer's contract liability balances and checks.
    (book / "imports" / "manual.beancount").write_text(
        '2026-02-01 * "Example Inc" "Credit purchase"\n'
        "  Assets:Bank                           100.00 USD\n"
        "  Liabilities:Deferred-Revenue:Example  -100.00 USD\n")
    run = bean_check(book / "main.beancount")
    assert run.returncode == 0, run.stderr


def test_a_new_book_keeps_its_event_ids_outside_git(tmp_path):
    """init writes index: {store: cache} and ignores .tokenbooks/ (docs/event-index.md);
    --index book keeps a sidecar per import file (what older books have)."""
    from tokenbooks.scripts.import_cmd import read_settings

    book = tmp_path / "books"
    assert CliRunner().invoke(cli, ["init", str(book)]).exit_code == 0
    assert read_settings(book / "importers.yaml") == {"index": {"store": "cache"}}
    assert ".tokenbooks/" in (book / ".gitignore").read_text().splitlines()
    old = tmp_path / "old"
    assert CliRunner().invoke(cli, ["init", str(old), "--index", "book"]).exit_code == 0
    assert read_settings(old / "importers.yaml") == {"index": {"store": "book"}}
    bad = CliRunner().invoke(cli, ["init", str(tmp_path / "x"), "--index", "git"])
    assert bad.exit_code == 2 and "'git' is not one of 'cache', 'book'" in bad.output


@pytest.mark.skipif(shutil.which("git") is None, reason="no git")
def test_after_an_import_git_tracks_no_event_ids(tmp_path):
    """In a new book's git work tree, what git would add after an import holds no
    event-id index (``.events.gz`` or ``.events.zst``): the derived index is ignored,
    the import file has the fingerprint."""
    from test_import_cmd import event, jsonl, new_book, run

    ledger = new_book(tmp_path / "book", store="cache")  # what init writes
    book = ledger.parent
    subprocess.run(["git", "init", "-q", str(book)], check=True)
    result = run(ledger, jsonl(tmp_path / "usage.jsonl", [event(i) for i in range(30)]))
    assert result.exit_code == 0, result.output
    listed = subprocess.run(["git", "-C", str(book), "ls-files", "--others",
                             "--exclude-standard"], capture_output=True, text=True,
                            check=True).stdout.splitlines()
    assert any(name.startswith("imports/2026-") for name in listed), listed
    assert not [name for name in listed if ".events." in name], listed
    assert list((book / ".tokenbooks" / "index").glob("*.events.zst"))


def test_init_refuses_to_overwrite_a_book(tmp_path):
    book = tmp_path / "books"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(book)]).exit_code == 0
    (book / "main.beancount").write_text("; mine\n")
    again = runner.invoke(cli, ["init", str(book)])
    assert again.exit_code == 1
    assert "exists; not overwriting a book (use --force)" in again.output
    assert (book / "main.beancount").read_text() == "; mine\n"
    assert runner.invoke(cli, ["init", str(book), "--force"]).exit_code == 0


def test_init_rejects_a_bad_currency(tmp_path):
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "b"), "--currency", "usd"])
    assert result.exit_code == 2
    assert "expected an upper-case code such as USD, got 'usd'" in result.output


def test_every_listed_command_exists():
    """A command that does not exist yet must not appear in --help."""
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    commands = re.findall(r"^  (\w[\w-]*)  ", result.output.split("Commands:")[1], re.M)
    assert "init" in commands
    for name in commands:
        sub = CliRunner().invoke(cli, [name, "--help"])
        assert sub.exit_code == 0, (name, sub.output)


def test_console_script_runs_from_outside_the_checkout(tmp_path):
    """The installed names live under tokenbooks, never top-level plugins/importers."""
    run = subprocess.run(
        [sys.executable, "-c",
         "import tokenbooks.plugins.contracts, tokenbooks.plugins.rules.model, "
         "tokenbooks.importers, tokenbooks.scripts.cli, tokenbooks.contracts;"
         "import importlib.util as u; print(u.find_spec('plugins'), u.find_spec('importers'))"],
        cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "None None"
    tokenbooks = shutil.which("tokenbooks", path=str(BIN))
    run = subprocess.run([tokenbooks, "init", "b"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
