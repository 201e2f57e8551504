"""The contracts reference, generated from the JSON Schema the contracts are validated by.

    python -m tokenbooks.scripts.schema_docs > docs/contracts-reference.md

Reads ``tokenbooks.schema.json`` as the package ships it (``contracts/`` in the
checkout; ``--schema PATH`` for another file) and writes Markdown: the value types, then
one table per kind of mapping (customer file, contract, pack, ..., price book, model
rates), one row per field with its type, whether it is required, its constraints and
its description. Fields of a mapping written inline (``overage``, ``tiers.bands[]``)
are rows of the mapping that holds them, by their path. The output depends on the
schema alone, byte for byte, so ``tests/test_docs_reference.py`` can compare the
committed file with it (the reference cannot go stale).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

Node = dict[str, Any]

COMMAND = "python -m tokenbooks.scripts.schema_docs > docs/contracts-reference.md"
# The mappings in reading order (a customer file down to its parts, then the price
# books); a definition not listed here follows them in the schema's order.
ORDER = ("customerFile", "contract", "pack", "breakage", "grant", "modification",
         "rateOverrides", "priceBookFile", "modelRates")
# The files each root definition validates.
FILES = (("customer file: a customer and its contracts", "contracts/customers/<customer>.yaml",
          "customerFile"),
         ("price book: list rates, versioned by date", "contracts/price-books/<id>.yaml",
          "priceBookFile"),
         ("cost table: a provider's cost per model (COGS), the same shape",
          "contracts/costs/<provider>.yaml", "priceBookFile"))
# The key a mapping of names (``additionalProperties``) is shown with, by field name.
KEYS = {"packs": "<pack>", "actions": "<action>", "models": "<model>", "tiers": "<tier>",
        "aliases": "<logged id>", "tools": "<tool>"}
# The keywords ``type_of`` and ``constraints`` put in words (or that hold fields); any
# other keyword is shown as it is written, so that no constraint goes unsaid.
SHOWN = frozenset({"$schema", "$id", "$ref", "$defs", "title", "description", "type", "enum",
                   "anyOf", "oneOf", "properties", "required", "items",
                   "additionalProperties", "propertyNames", "minimum", "exclusiveMinimum",
                   "maximum", "exclusiveMaximum", "minLength", "maxLength", "pattern",
                   "minItems", "maxItems", "uniqueItems", "minProperties"})
TYPES = {"string": "text", "number": "number", "integer": "whole number",
         "boolean": "true or false", "object": "mapping", "array": "list", "null": "null"}


def load_schema(path: Path | None = None) -> Node:
    """The schema at ``path``, else the one the package ships."""
    if path is not None:
        text = path.read_text(encoding="utf-8")
    else:
        text = resources.files("tokenbooks.contracts").joinpath(
            "tokenbooks.schema.json").read_text(encoding="utf-8")
    loaded: Node = json.loads(text)
    return loaded


def cell(text: str) -> str:
    """``text`` as a Markdown table cell: one line, pipes escaped, no raw HTML."""
    return (" ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")
            .replace("<", "&lt;").replace(">", "&gt;"))


def anchor(name: str) -> str:
    return name.lower()


def ref_name(node: Node) -> str | None:
    ref = node.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def code(value: Any) -> str:
    return f"`{json.dumps(value)}`" if not isinstance(value, str) else f"`{value}`"


def is_mapping(node: Node) -> bool:
    return node.get("type") == "object" or "properties" in node


def type_of(node: Node, defs: Node) -> str:
    """What a value is: a type, a definition linked, a list or mapping of them."""
    name = ref_name(node)
    if name is not None:
        target = defs.get(name, {})
        shown = "mapping" if is_mapping(target) else TYPES.get(str(target.get("type")), "value")
        return f"{shown} ([{name}](#{anchor(name)}))"
    choices = node.get("anyOf") or node.get("oneOf")
    if choices:
        return " or ".join(type_of(n, defs) for n in choices)
    if "enum" in node:
        kinds = sorted({TYPES[_json_type(v)] for v in node["enum"]})
        return " or ".join(kinds)
    kind = node.get("type")
    if kind == "array":
        items = node.get("items", {})
        if is_mapping(items) and ref_name(items) is None:
            return "list of mappings (fields below)"
        return f"list of {type_of(items, defs)}"
    if kind == "object" or "properties" in node:
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and "properties" not in node:
            inner = ("mapping (fields below)" if is_mapping(extra) and ref_name(extra) is None
                     else type_of(extra, defs))
            return f"mapping of names to {inner}"
        return "mapping (fields below)" if node.get("properties") else "mapping"
    if isinstance(kind, list):
        return " or ".join(TYPES.get(str(k), str(k)) for k in kind)
    return TYPES.get(kind, "value") if kind else "value"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "null"
    return "string"


def constraints(node: Node) -> str:
    """The validation keywords of a node, in words."""
    out = []
    if "enum" in node:
        out.append("one of " + ", ".join(code(v) for v in node["enum"]))
    for key, words in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
                       ("exclusiveMaximum", "<")):
        if key in node:
            out.append(f"{words} {node[key]}")
    if "minLength" in node:
        out.append(f"at least {node['minLength']} character(s)")
    if "maxLength" in node:
        out.append(f"at most {node['maxLength']} character(s)")
    if "pattern" in node:
        out.append(f"matches `{node['pattern']}`")
    if "minItems" in node:
        out.append(f"at least {node['minItems']} item(s)")
    if "maxItems" in node:
        out.append(f"at most {node['maxItems']} item(s)")
    if node.get("uniqueItems"):
        out.append("each item once")
    if "minProperties" in node:
        out.append(f"at least {node['minProperties']} entr{'y' if node['minProperties'] == 1 else 'ies'}")
    names = node.get("propertyNames", {})
    if isinstance(names, dict) and "enum" in names:
        out.append("names: " + ", ".join(code(v) for v in names["enum"]))
    items = node.get("items")
    if isinstance(items, dict) and "enum" in items:
        out.append("each one of " + ", ".join(code(v) for v in items["enum"]))
    if node.get("additionalProperties") is False and node.get("properties"):
        out.append("no other fields")
    out += [f"{key}: {json.dumps(node[key])}" for key in node if key not in SHOWN]
    return "; ".join(out)


def rows(node: Node, prefix: str = "") -> Iterator[tuple[str, Node, bool]]:
    """(path, node, required) of every field of a mapping, the fields of mappings written
    inline after the field that holds them."""
    required = set(node.get("required", ()))
    for name, sub in (node.get("properties") or {}).items():
        path = f"{prefix}{name}"
        yield path, sub, name in required
        yield from inline(sub, path, name)


def inline(node: Node, path: str, name: str) -> Iterator[tuple[str, Node, bool]]:
    """The fields below a field whose value is a mapping written inline."""
    if ref_name(node) is not None:
        return
    if node.get("properties"):
        yield from rows(node, f"{path}.")
    items = node.get("items")
    if isinstance(items, dict) and items.get("properties") and ref_name(items) is None:
        yield from rows(items, f"{path}[].")
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and extra.get("properties") and ref_name(extra) is None:
        yield from rows(extra, f"{path}.{KEYS.get(name, '<name>')}.")


def table(node: Node, defs: Node, prefix: str = "") -> list[str]:
    out = ["| field | type | required | constraints | description |",
           "|---|---|---|---|---|"]
    for path, sub, required in rows(node, prefix):
        out.append(f"| `{path}` | {type_of(sub, defs)} | {'yes' if required else ''} | "
                   f"{cell(constraints(sub))} | {cell(sub.get('description', ''))} |")
    return out


def render(schema: Node) -> str:
    defs: Node = schema.get("$defs", {})
    mappings = [n for n in ORDER if n in defs]
    mappings += [n for n, d in defs.items() if is_mapping(d) and n not in mappings]
    values = [n for n, d in defs.items() if n not in mappings]
    out = [f"<!-- Generated from contracts/tokenbooks.schema.json by `{COMMAND}`: do not "
           f"edit by hand; edit the schema's descriptions and run it again "
           f"(tests/test_docs_reference.py fails when this file is stale). -->", "",
           "# Contracts reference", "",
           cell(schema.get("description", "")), "",
           "Every field of every contract file, from the JSON Schema "
           "(`contracts/tokenbooks.schema.json`) that `tokenbooks.plugins.contracts` "
           "validates each file against. Point an editor at the schema "
           "(`# yaml-language-server: $schema=../tokenbooks.schema.json` as a file's "
           "first line) to see these descriptions as you type. What a schema cannot "
           "say is checked after it, with the file and line of each problem: dates that "
           "exist, an end after the start, money to the cent, versions in date order, "
           "contracts of a customer that do not overlap, and every reference (a "
           "contract's price book, a top-up pack, the pack a purchase names). What the "
           "fields do to the books: [accounting rules](accounting-rules.md); the "
           "formats of what is imported: [usage events](usage-format.md), "
           "[purchases, payments and credit notes](purchases-format.md).", "",
           "| file | where | fields |", "|---|---|---|"]
    for what, where, name in FILES:
        if name in defs:
            out.append(f"| {cell(what)} | `{where}` | [{name}](#{anchor(name)}) |")
    out += ["", "## Values", "",
            "| value | type | constraints | description |", "|---|---|---|---|"]
    for name in values:
        node = defs[name]
        out.append(f'| <a id="{anchor(name)}"></a>`{name}` | {type_of(node, defs)} | '
                   f"{cell(constraints(node))} | {cell(node.get('description', ''))} |")
    for name in mappings:
        node = defs[name]
        out += ["", f'<a id="{anchor(name)}"></a>', "", f"## `{name}`", ""]
        if node.get("description"):
            out += [cell(node["description"]), ""]
        if node.get("properties"):
            out += table(node, defs)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra.get("properties"):
            out += [f"A mapping of names (a model id) to these fields: "
                    f"{cell(constraints(extra))}.", ""]
            out += table(extra, defs, "<model>.")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tokenbooks.scripts.schema_docs",
        description="Write the contracts reference (Markdown) generated from the JSON "
                    "Schema to standard output.")
    parser.add_argument("--schema", type=Path, default=None,
                        help="the schema to read (default: the one the package ships)")
    args = parser.parse_args(argv)
    sys.stdout.buffer.write(render(load_schema(args.schema)).encode("utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
