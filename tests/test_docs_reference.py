"""The reference in docs/ covers the public interface and cannot go stale.

Every property of the contracts' JSON Schema has a description (editors show it) and is
in docs/contracts-reference.md, which is exactly what ``scripts/schema_docs.py``
generates from the schema; every canonical usage field is in docs/usage-format.md, every
purchases, payments and credit notes column in docs/purchases-format.md; every relative
link of docs/*.md (and of the README's links into docs/) points at a file that exists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tokenbooks.importers import credit_notes, payments, purchases, usage, usage_daily
from tokenbooks.plugins.entries import usage as usage_entries
from tokenbooks.scripts import schema_docs

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCHEMA = ROOT / "contracts" / "tokenbooks.schema.json"
REFERENCE = DOCS / "contracts-reference.md"
# [text](target) of Markdown, not an image; the target up to a space or the closing paren
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def properties(node: Any, path: str = "") -> Iterator[tuple[str, str, dict]]:
    """(path, name, schema) of every property anywhere in the schema: under $defs, in
    properties, items, additionalProperties and anyOf, recursively."""
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            yield f"{path}/properties/{name}", name, sub
        for key, value in node.items():
            yield from properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from properties(value, f"{path}/{i}")


@pytest.fixture(scope="module")
def schema() -> dict:
    loaded: dict = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def reference() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def test_the_walk_finds_the_properties_of_every_definition(schema: dict) -> None:
    found = {path for path, _, _ in properties(schema)}
    assert "/$defs/contract/properties/overage/properties/top_up/properties/below" in found
    assert "/$defs/contract/properties/tiers/properties/bands/items/properties/up_to" in found
    assert "/$defs/rateOverrides/additionalProperties/properties/cache_write_1h" in found
    assert len(found) > 150


def test_every_property_of_the_schema_has_a_description(schema: dict) -> None:
    missing = [path for path, _, sub in properties(schema)
               if not str(sub.get("description") or "").strip()]
    assert missing == []


def test_every_property_is_in_the_contracts_reference_with_its_description(
        schema: dict, reference: str) -> None:
    absent = []
    for path, name, sub in properties(schema):
        # the name as a field of a path: `name`, `x.name`, `x[].name`, `<model>.name`
        if not re.search(r"[`.]" + re.escape(name) + r"[`.\[]", reference):
            absent.append(f"{path}: name")
        if schema_docs.cell(sub.get("description", "")) not in reference:
            absent.append(f"{path}: description")
    assert absent == []


def test_the_contracts_reference_is_what_the_script_generates() -> None:
    expected = schema_docs.render(schema_docs.load_schema(SCHEMA))
    assert REFERENCE.read_text(encoding="utf-8") == expected, (
        "docs/contracts-reference.md is stale: run `python -m tokenbooks.scripts.schema_docs"
        " > docs/contracts-reference.md`")


def test_the_script_reads_the_schema_the_package_ships() -> None:
    assert schema_docs.load_schema() == schema_docs.load_schema(SCHEMA)


def test_the_script_is_deterministic() -> None:
    assert schema_docs.render(schema_docs.load_schema()) == schema_docs.render(
        schema_docs.load_schema())


@pytest.mark.parametrize("name", [*usage.FIELDS, "unbilled"])
def test_every_canonical_usage_field_is_in_the_usage_format(name: str) -> None:
    text = (DOCS / "usage-format.md").read_text(encoding="utf-8")
    assert f"`{name}`" in text


@pytest.mark.parametrize("name", usage_daily.COLUMNS)
def test_every_daily_aggregate_column_is_in_the_usage_format(name: str) -> None:
    text = (DOCS / "usage-format.md").read_text(encoding="utf-8")
    assert f"`{name}`" in text


@pytest.mark.parametrize("name", [*usage_entries.COUNT_FIELDS, "user", "until", "workflow",
                                  "service_tier", "context", "cache_hit", "source", "sha256",
                                  "first_event", "last_event"])
def test_every_usage_entry_key_is_in_the_usage_format(name: str) -> None:
    text = (DOCS / "usage-format.md").read_text(encoding="utf-8")
    assert f"`{name}`" in text


@pytest.mark.parametrize("name", sorted({*purchases.COLUMNS, "credits", "expires", "kind", "tax",
                                         "tax_jurisdiction", *payments.COLUMNS,
                                         *credit_notes.COLUMNS, "reason"}))
def test_every_purchases_payments_and_credit_notes_column_is_in_the_purchases_format(
        name: str) -> None:
    text = (DOCS / "purchases-format.md").read_text(encoding="utf-8")
    assert f"`{name}`" in text


def links(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)  # not in code blocks
    text = re.sub(r"`[^`\n]*`", "", text)  # nor in code spans
    return LINK.findall(text)


def relative(target: str) -> bool:
    return not re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target)


def test_the_link_finder_sees_relative_links(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("[a](refunds.md) ![img](x.png) [b](https://x.org) [c](#top) "
                    "[d](../README.md#x) `[e](not.md)`\n```\n[f](nope.md)\n```\n")
    assert [t for t in links(page) if relative(t)] == ["refunds.md", "../README.md#x"]


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_every_relative_link_of_the_docs_points_at_a_file_that_exists(page: Path) -> None:
    broken = []
    for target in links(page):
        if relative(target):
            file = target.split("#", 1)[0]
            if file and not (page.parent / file).exists():
                broken.append(target)
    assert broken == []


def test_the_docs_index_lists_every_page() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    listed = {t.split("#", 1)[0] for t in links(DOCS / "README.md") if relative(t)}
    pages = {p.name for p in DOCS.glob("*.md")} - {"README.md"}
    assert pages <= listed, sorted(pages - listed)
    assert "contracts-reference.md" in index


def test_the_readme_links_into_docs_resolve() -> None:
    broken = [t for t in links(ROOT / "README.md")
              if relative(t) and t.startswith("docs/")
              and not (ROOT / t.split("#", 1)[0]).exists()]
    assert broken == []
