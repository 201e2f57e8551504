"""Load and validate the contracts folder: customers, price books and cost tables.

    contracts/
      tokenbooks.schema.json      (optional copy; the packaged schema is used)
      customers/acme.yaml         one customer and its contracts
      price-books/list-2026.yaml  list prices, versioned by effective date
      costs/openai.yaml           a provider's cost per model (COGS), same shape

Every file is checked against the JSON Schema shipped in ``tokenbooks.contracts``, then
for what a schema cannot say: dates that exist, end after start, money to the cent,
references (a contract's price book, a top-up pack, a purchase's pack). All errors of a
load are returned together, each naming the file, the line, the field and what was
expected; a file with errors contributes nothing to the model, so nothing half-valid is
ever priced. YAML numbers are read as ``Decimal``: a float never enters the books.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import functools
import json
import os
import re
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .model import (
    DEFAULT_PRIORITY,
    GRANT_KINDS,
    ZERO,
    ActionPrice,
    Allowance,
    Band,
    Bonus,
    Breakage,
    BreakageRevision,
    Commitment,
    Contract,
    ContractSet,
    Customer,
    FixedRate,
    Grant,
    MaterialRight,
    ModelRates,
    Modification,
    Overage,
    Pack,
    PriceBook,
    PriceBookVersion,
    Term,
    TierRevision,
    Tiers,
    TopUp,
    UnclaimedProperty,
)

CENT = Decimal("0.01")
DEFAULT_PER = 1_000_000
ACTION_STATUSES = ("completed", "partial", "failed")

# Where a value is in a YAML document: mapping keys and list indexes, from the root.
FieldPath = tuple[str | int, ...]
# The line (1-based) of every path in a document (``read_yaml``).
Lines = dict[FieldPath, int]
# Raw YAML data: a mapping as parsed (validated by the schema, untyped).
Raw = dict[str, Any]


@dataclass(frozen=True)
class ContractError:
    """One problem in one contract file."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


# --- YAML with Decimal numbers and line numbers -------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads floats as Decimal (exactly as written)."""


def _decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    text = loader.construct_scalar(node).replace("_", "")
    if text.lower() in (".nan", ".inf", "-.inf", "+.inf"):
        raise yaml.constructor.ConstructorError(
            None, None, f"not a finite number: {text}", node.start_mark
        )
    return Decimal(text)


def _timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> datetime.date:
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError as exc:  # 2026-02-30: keep the line number in the error
        raise yaml.constructor.ConstructorError(
            None, None, f"expected a date that exists, got {node.value} ({exc})",
            node.start_mark) from exc


_Loader.add_constructor("tag:yaml.org,2002:float", _decimal)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)

# The same loader on libyaml when PyYAML has it: the contracts are read at every load, and
# it parses several times faster. A file it rejects is read again with ``_Loader``, so
# that error messages do not depend on which parser is installed.
_FastLoader: type[yaml.CSafeLoader] | None = None
if getattr(yaml, "__with_libyaml__", False):
    class _FastLoader(yaml.CSafeLoader):  # type: ignore[no-redef]
        """``_Loader`` on libyaml."""

    # (the class just defined: not None)
    _FastLoader.add_constructor(  # type: ignore[union-attr]
        "tag:yaml.org,2002:float", _decimal)
    _FastLoader.add_constructor(  # type: ignore[union-attr]
        "tag:yaml.org,2002:timestamp", _timestamp)


def _walk_lines(node: yaml.Node, path: FieldPath, lines: Lines,
                dupes: list[tuple[FieldPath, int]]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                dupes.append((path + (key,), key_node.start_mark.line + 1))
            seen.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _walk_lines(value_node, path + (key,), lines, dupes)
            lines[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk_lines(item, path + (index,), lines, dupes)


def _parse(loader_class: type[yaml.SafeLoader] | type[yaml.CSafeLoader], text: str
           ) -> tuple[Any, Lines, list[tuple[FieldPath, int]]] | None:
    """(data, {path tuple: line}, duplicate keys) of one YAML document, None if empty."""
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        lines: Lines = {}
        dupes: list[tuple[FieldPath, int]] = []
        _walk_lines(node, (), lines, dupes)
        return loader.construct_document(node), lines, dupes
    finally:
        loader.dispose()


def read_yaml(path: Path, name: str | None = None
              ) -> tuple[Any, Lines, list[ContractError]]:
    """Parse one YAML file into (data, {path tuple: line}, errors)."""
    name = name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, {}, [ContractError(name, None, "", f"cannot read file: {exc}")]
    parsed = None
    if _FastLoader is not None:
        try:
            parsed = _parse(_FastLoader, text)
        except (yaml.YAMLError, ValueError):
            parsed = None  # read again with the pure loader, for its message
    if parsed is None:
        try:
            parsed = _parse(_Loader, text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            line = mark.line + 1 if mark else None
            problem = getattr(exc, "problem", None) or str(exc)
            context = getattr(exc, "context", None)
            context_mark = getattr(exc, "context_mark", None)
            if context and context_mark is not None and context_mark is not mark:
                problem = f"{problem} ({context} started on line {context_mark.line + 1})"
            what = ("invalid value" if isinstance(exc, yaml.constructor.ConstructorError)
                    else "invalid YAML")
            return None, {}, [ContractError(name, line, "", f"{what}: {problem}")]
        except ValueError as exc:  # e.g. a date such as 2026-02-30
            return None, {}, [ContractError(name, None, "", f"invalid value: {exc}")]
        if parsed is None:
            return None, {}, [ContractError(name, 1, "", "file is empty")]
    data, lines, dupes = parsed
    errors = [
        ContractError(name, line, _field(p), f"duplicate key {p[-1]!r}") for p, line in dupes
    ]
    return data, lines, errors


def _field(path: FieldPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _line(lines: Lines, path: FieldPath) -> int | None:
    path = tuple(path)
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path)


# --- JSON Schema ---------------------------------------------------------------------------


@functools.cache
def schema() -> dict[str, Any]:
    """The JSON Schema for contract files, as shipped in the package."""
    text = resources.files("tokenbooks.contracts").joinpath("tokenbooks.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@functools.cache
def _validator(kind: str) -> jsonschema.protocols.Validator:
    root = schema()
    sub = {"$ref": f"#/$defs/{kind}", "$defs": root["$defs"]}
    return jsonschema.Draft202012Validator(sub)


def _jsonable(value: Any) -> Any:
    """The YAML data as JSON Schema sees it: dates become ISO strings, Decimals stay."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _describe(error: jsonschema.ValidationError) -> tuple[FieldPath, str]:
    """(path, message) for a schema error, phrased as what was expected."""
    path = tuple(error.absolute_path)
    # jsonschema types these as possibly unset; an error from iter_errors has them all
    node: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    desc = node.get("description")
    value: Any = error.instance
    bound: Any = error.validator_value
    kind = error.validator
    if kind == "required":
        missing = re.search(r"'([^']+)' is a required property", error.message)
        name = missing.group(1) if missing else "?"
        return path + (name,), "is required but missing"
    if kind == "additionalProperties":
        extra = sorted(set(value) - set(node.get("properties", {})))
        allowed = ", ".join(sorted(node.get("properties", {})))
        key = extra[0] if extra else "?"
        close = difflib.get_close_matches(key, node.get("properties", {}), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return path + (key,), f"unknown field {key!r}{hint}; expected one of: {allowed}"
    if kind == "enum":
        allowed = ", ".join(repr(v) for v in bound)
        return path, f"expected one of {allowed}, got {value!r}"
    if kind == "type":
        expected: str | list[str] = bound  # a type name, or a list of them
        what = {"number": "a number", "integer": "a whole number", "string": "text",
                "object": "a mapping", "array": "a list", "boolean": "true or false"}
        if isinstance(expected, list):
            name = " or ".join(what.get(e, e) for e in expected)
        else:
            name = what.get(expected, expected)
        return path, f"expected {name}, got {_show(value)}"
    if kind == "pattern":
        return path, f"expected {desc or 'text matching ' + bound}, got {value!r}"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=",
              "exclusiveMaximum": "<"}[kind]
        return path, f"expected a number {op} {bound}, got {_show(value)}"
    if kind in ("minItems", "minProperties"):
        return path, f"expected at least {bound} entr{'y' if bound == 1 else 'ies'}"
    if kind in ("anyOf", "oneOf"):
        return path, f"expected {desc or 'a valid value'}, got {_show(value)}"
    return path, error.message


def _show(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return repr(value)


def validate_schema(data: Any, kind: str, name: str, lines: Lines) -> list[ContractError]:
    errors = []
    for error in _validator(kind).iter_errors(_jsonable(data)):
        path, message = _describe(error)
        errors.append(ContractError(name, _line(lines, path), _field(path), message))
    return sorted(errors, key=lambda e: (e.line or 0, e.field, e.message))


# --- From validated data to the model ------------------------------------------------------


class _Builder:
    """Turns schema-valid data into model objects, collecting semantic errors."""

    def __init__(self, name: str, lines: Lines) -> None:
        self.name = name
        self.lines = lines
        self.errors: list[ContractError] = []

    def error(self, path: FieldPath, message: str) -> None:
        self.errors.append(ContractError(self.name, _line(self.lines, path), _field(path), message))

    def date(self, value: Any, path: FieldPath) -> datetime.date | None:
        if value is None:
            return None
        if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
            return value
        try:
            return datetime.date.fromisoformat(str(value))
        except ValueError:
            self.error(path, f"expected a date YYYY-MM-DD that exists, got {value!r}")
            return None

    def money(self, value: Any, path: FieldPath) -> Decimal:
        amount = Decimal(value)
        if amount != amount.quantize(CENT):
            self.error(path, f"expected an amount to the cent (2 decimal places), got {value}")
        return amount

    def term(self, value: str) -> Term:
        # (the schema's "term" pattern: it matches)
        count, unit = re.match(  # type: ignore[union-attr]
            r"^(\d+) *(day|month|year)s?$", value.strip()).groups()
        return Term(int(count), unit)

    # price books and cost tables

    def price_book(self, data: Raw, stem: str, provider: str | None) -> PriceBook:
        if data["id"] != stem:
            self.error(("id",), f"expected the file name {stem!r} as id, got {data['id']!r}")
        versions = []
        previous = None
        for i, raw in enumerate(data["versions"]):
            effective = self.date(raw["effective"], ("versions", i, "effective"))
            if effective is None:
                continue
            if previous is not None and effective <= previous:
                self.error(("versions", i, "effective"),
                           f"expected versions in increasing date order, got {effective} "
                           f"after {previous}")
            previous = effective
            models = {}
            for model, rates in raw["models"].items():
                models[model] = self.model_rates(rates, ("versions", i, "models", model))
            tools = {str(tool): Decimal(price) for tool, price in (raw.get("tools") or {}).items()}
            versions.append(PriceBookVersion(effective, models, _line(self.lines, ("versions", i)),
                                             tools))
        return PriceBook(
            id=data["id"], currency=data["currency"], per=int(data.get("per", DEFAULT_PER)),
            versions=tuple(sorted(versions, key=lambda v: v.effective)), source=self.name,
            provider=provider, aliases=self.aliases(data.get("aliases") or {}, versions),
        )

    def model_rates(self, rates: Raw, path: FieldPath, base: bool = True) -> ModelRates:
        """A model's rate block (docs/token-classes.md): the standard block's
        ``cached_input`` defaults to ``input`` (as it always has); a tier or long-context
        block is complete on its own (a rate it leaves out is missing, not the input's)."""
        given = frozenset(name for name in ("input", "cached_input", "output") if name in rates)
        cached = rates["cached_input"] if "cached_input" in rates else rates["input"]
        tiers = tuple((str(tier), self.model_rates(block, path + ("tiers", tier), False))
                      for tier, block in sorted((rates.get("tiers") or {}).items()))
        if not base and "tiers" in rates:
            self.error(path + ("tiers",), "expected tiers only in a model's standard block")
        long_context = None
        if "long_context" in rates:
            long_context = self.model_rates(rates["long_context"], path + ("long_context",),
                                            False)
            if long_context.above is None:
                self.error(path + ("long_context", "above"),
                           "is required: the prompt size (tokens) past which the band applies")
        elif "above" in rates and base:
            self.error(path + ("above",), "expected above only in a long_context block")

        def optional(name: str) -> Decimal | None:
            return Decimal(rates[name]) if name in rates else None

        return ModelRates(
            input=Decimal(rates["input"]), cached_input=Decimal(cached),
            output=Decimal(rates["output"]), cache_write=optional("cache_write"),
            cache_write_1h=optional("cache_write_1h"), tiers=tiers, long_context=long_context,
            above=int(rates["above"]) if "above" in rates else None,
            given=given if not base else frozenset({"input", "cached_input", "output"}))

    def aliases(self, raw: Raw, versions: list[PriceBookVersion]) -> dict[str, str]:
        known = {m for v in versions for m in v.models}
        for alias, target in raw.items():
            if target not in known:
                self.error(("aliases", alias), f"expected a model of this file "
                                               f"({', '.join(sorted(known))}), got {target!r}")
        return {str(a): str(t) for a, t in raw.items()}

    # customers

    def customer(self, data: Raw) -> Customer:
        contracts = tuple(
            self.contract(raw, data["customer"], ("contracts", i))
            for i, raw in enumerate(data["contracts"])
        )
        ordered = sorted(contracts, key=lambda c: c.start)
        for before, after in zip(ordered, ordered[1:], strict=False):
            if before.end is None or after.start <= before.end:
                index = contracts.index(after)
                self.error(("contracts", index, "start"),
                           f"contract {after.id!r} starts {after.start}, inside contract "
                           f"{before.id!r} (expected contracts of a customer not to overlap)")
        return Customer(id=data["customer"], name=data["name"], contracts=contracts,
                        segment=data.get("segment"), source=self.name)

    def contract(self, raw: Raw, customer: str, path: FieldPath) -> Contract:
        start = self.date(raw["start"], path + ("start",)) or datetime.date.min
        end = self.date(raw.get("end"), path + ("end",))
        if end is not None and end < start:
            self.error(path + ("end",), f"expected an end on or after the start {start}, got {end}")
        packs = {
            name: self.pack(name, p, path + ("packs", name))
            for name, p in (raw.get("packs") or {}).items()
        }
        billing = raw["billing"]
        credit_value = raw.get("credit_value")
        if billing == "prepaid":
            if credit_value is None:
                self.error(path + ("credit_value",),
                           "is required for prepaid billing (list value of one credit)")
            if not packs:
                self.error(path + ("packs",), "expected at least one pack for prepaid billing")
        overage = self.overage(raw.get("overage"), packs, path + ("overage",))
        allowance = self.allowance(raw.get("allowance"), path + ("allowance",))
        if allowance is not None and credit_value is None:
            self.error(path + ("credit_value",),
                       "is required with an allowance (list value of one credit)")
        modifications = tuple(
            self.modification(m, path + ("modifications", i), start, end)
            for i, m in enumerate(raw.get("modifications") or [])
        )
        ids = [m.id for m in modifications]
        for i, mod_id in enumerate(ids):
            if mod_id in ids[:i]:
                self.error(path + ("modifications", i, "id"),
                           f"duplicate modification id {mod_id!r}")
        commitment = None
        if raw.get("commitment"):
            c = raw["commitment"]
            commitment = Commitment(
                amount=self.money(c["amount"], path + ("commitment", "amount")),
                period=c.get("period", "month"), method=c.get("method", "remote"),
                carryover=bool(c.get("carryover", False)),
                expected_usage=Decimal(c["expected_usage"]) if "expected_usage" in c else None,
            )
            if commitment.method == "proportional" and commitment.expected_usage is None:
                self.error(path + ("commitment", "expected_usage"),
                           "is required for method 'proportional' (expected list value of "
                           "usage per period)")
        grant_kinds = frozenset(raw.get("grant_kinds") or GRANT_KINDS)
        grants = self.grants(raw, path, start, end, packs, grant_kinds)
        if (grants or any(p.bonus or p.material_right for p in packs.values())) \
                and credit_value is None:
            self.error(path + ("credit_value",),
                       "is required with grants (list value of one credit)")
        for name, p in packs.items():
            here = path + ("packs", name)
            if p.bonus is not None and "bundled" not in grant_kinds:
                self.error(here + ("bonus",), f"grant kind 'bundled' is not allowed by this "
                                              f"contract (grant_kinds: "
                                              f"{', '.join(sorted(grant_kinds))})")
            if p.material_right is not None:
                if "material_right" not in grant_kinds:
                    self.error(here + ("material_right",),
                               f"grant kind 'material_right' is not allowed by this "
                               f"contract (grant_kinds: {', '.join(sorted(grant_kinds))})")
                if p.material_right.pack not in packs:
                    self.error(here + ("material_right", "pack"),
                               f"expected a pack of this contract "
                               f"({', '.join(sorted(packs))}), got {p.material_right.pack!r}")
                elif p.material_right.pack == name:
                    self.error(here + ("material_right", "pack"),
                               "expected another pack than the one the option is sold with")
        return Contract(
            id=raw["id"], customer=customer, start=start, end=end, currency=raw["currency"],
            billing=billing, price_book=raw["price_book"],
            discount=Decimal(raw.get("discount", 0)),
            rates={m: {k: Decimal(v) for k, v in r.items()} for m, r in (raw.get("rates") or {}).items()},
            credit_value=Decimal(credit_value) if credit_value is not None else None,
            packs=packs, draw_order=raw.get("draw_order", "earliest_expiry"), overage=overage,
            commitment=commitment, tiers=self.tiers(raw.get("tiers"), path + ("tiers",)),
            allowance=allowance,
            actions={
                name: ActionPrice(
                    price=Decimal(a["price"]),
                    weights={s: Decimal(a.get(s, 1 if s == "completed" else 0))
                             for s in ACTION_STATUSES},
                )
                for name, a in (raw.get("actions") or {}).items()
            },
            modifications=modifications,
            payment_terms_days=int(raw.get("payment_terms_days", 30)),
            non_billable_features=frozenset(raw.get("non_billable_features") or ()),
            gateway_cache=str(raw.get("gateway_cache", "bill")),
            refund_credits=str((raw.get("refunds") or {}).get("credits", "proportional")),
            grants=grants, grant_kinds=grant_kinds,
            fx=(FixedRate(Decimal(raw["fx"]["rate"]), str(raw["fx"]["from"]))
                if raw.get("fx") else None),
            source=self.name, line=_line(self.lines, path),
        )

    def grants(self, raw: Raw, path: FieldPath, start: datetime.date,
               end: datetime.date | None, packs: dict[str, Pack],
               allowed: frozenset[str]) -> tuple[Grant, ...]:
        """The contract's ``grants:`` with their ``voids:`` applied (docs/grants.md)."""
        out: list[Grant] = []
        seen: dict[str, int] = {}
        for i, g in enumerate(raw.get("grants") or []):
            here = path + ("grants", i)
            day = self.date(g["date"], here + ("date",)) or start
            if day < start or (end is not None and day > end):
                self.error(here + ("date",), f"expected a date within the contract "
                                             f"({start} to {end or 'open'}), got {day}")
            if g["id"] in seen:
                self.error(here + ("id",), f"duplicate grant id {g['id']!r}")
            seen[g["id"]] = i
            kind = g["kind"]
            if kind not in allowed:
                self.error(here + ("kind",), f"grant kind {kind!r} is not allowed by this "
                                             f"contract (grant_kinds: "
                                             f"{', '.join(sorted(allowed))})")
            if "expires" in g and "expires_after" in g:
                self.error(here + ("expires",),
                           "expected either 'expires' or 'expires_after', not both")
            expires = self.date(g.get("expires"), here + ("expires",))
            if expires is not None and expires <= day:
                self.error(here + ("expires",), f"expected a date after the grant's date "
                                                f"{day} (credits cannot be used on their "
                                                f"expiry date), got {expires}")
            ssp = Decimal(g["ssp"]) if "ssp" in g else None
            if kind == "bundled":
                if not g.get("with"):
                    self.error(here + ("with",), "is required for kind 'bundled' (the "
                                                 "payment_id of the paid purchase it comes "
                                                 "with)")
            elif "with" in g or "ssp" in g:
                key = "with" if "with" in g else "ssp"
                self.error(here + (key,), f"applies to kind 'bundled' only, got kind "
                                          f"{kind!r} (free credits have no consideration "
                                          f"to allocate)")
            void = self.date(g.get("void"), here + ("void",))
            if void is not None and void < day:
                self.error(here + ("void",), f"expected a date on or after the grant's "
                                             f"date {day}, got {void}")
            out.append(Grant(
                id=g["id"], date=day, credits=Decimal(g["credits"]), kind=kind,
                expires=expires,
                expires_after=self.term(g["expires_after"]) if "expires_after" in g else None,
                priority=int(g.get("priority", DEFAULT_PRIORITY)), ssp=ssp,
                with_payment=str(g.get("with", "")), void=void,
                reason=str(g.get("reason", "")), line=_line(self.lines, here)))
        for i, v in enumerate(raw.get("voids") or []):
            here = path + ("voids", i)
            index = seen.get(v["grant"])
            if index is None:
                known = ", ".join(sorted(seen)) or "none"
                self.error(here + ("grant",), f"void of unknown grant {v['grant']!r} "
                                              f"(expected one of: {known})")
                continue
            void = self.date(v["date"], here + ("date",))
            grant = out[index]
            if void is None:
                continue
            if void < grant.date:
                self.error(here + ("date",), f"expected a date on or after the grant's date "
                                             f"{grant.date}, got {void}")
            if grant.void is not None and grant.void != void:
                self.error(here + ("date",), f"grant {grant.id!r} is already voided on "
                                             f"{grant.void}")
            out[index] = dataclasses.replace(grant, void=void,
                                             reason=str(v.get("reason", grant.reason)))
        return tuple(out)

    def pack(self, name: str, raw: Raw, path: FieldPath) -> Pack:
        if "expires" in raw and "expires_after" in raw:
            self.error(path + ("expires",), "expected either 'expires' or 'expires_after', not both")
        b = raw.get("breakage") or {"method": "remote"}
        if b["method"] == "proportional" and "rate" not in b:
            self.error(path + ("breakage", "rate"),
                       "is required for method 'proportional' (expected unused fraction)")
        if b["method"] == "remote" and ("rate" in b or b.get("revisions")):
            self.error(path + ("breakage", "method"),
                       "expected 'proportional' when a rate or revisions are given, got 'remote'")
        revisions = tuple(
            BreakageRevision(
                # (None only for a bad date, an error: the file contributes nothing)
                date=self.date(  # type: ignore[arg-type]
                    r["date"], path + ("breakage", "revisions", i, "date")),
                rate=Decimal(r["rate"]), approved_by=r.get("approved_by"), basis=r.get("basis"),
            )
            for i, r in enumerate(b.get("revisions") or [])
        )
        bonus = None
        if raw.get("bonus"):
            bonus = Bonus(credits=Decimal(raw["bonus"]["credits"]),
                          ssp=Decimal(raw["bonus"]["ssp"]) if "ssp" in raw["bonus"] else None,
                          priority=raw["bonus"].get("priority"))
        right = None
        if raw.get("material_right"):
            m = raw["material_right"]
            if "expires" in m and "expires_after" in m:
                self.error(path + ("material_right", "expires"),
                           "expected either 'expires' or 'expires_after', not both")
            right = MaterialRight(
                pack=str(m["pack"]),
                ssp=self.money(m["ssp"], path + ("material_right", "ssp")),
                expires_after=self.term(m["expires_after"]) if "expires_after" in m else None,
                expires=self.date(m.get("expires"), path + ("material_right", "expires")))
        ssp = Decimal(raw["ssp"]) if "ssp" in raw else None
        if ssp is None and (right is not None or (bonus is not None and bonus.ssp is not None)):
            self.error(path + ("ssp",), "is required with a bonus of its own SSP or a material "
                                        "right (standalone selling price of one credit, for "
                                        "the relative-SSP allocation)")
        unclaimed = None
        if raw.get("unclaimed_property") is not None:
            u = raw["unclaimed_property"]
            share = Decimal(u["share"])
            if not 0 <= share <= 1:  # (the schema says so too; kept for the model's sake)
                self.error(path + ("unclaimed_property", "share"),
                           f"expected a fraction of the breakage in [0, 1], got {share}")
            unclaimed = UnclaimedProperty(share, str(u["jurisdiction"]))
        return Pack(
            name=name, price=self.money(raw["price"], path + ("price",)),
            credits=Decimal(raw["credits"]),
            expires_after=self.term(raw["expires_after"]) if "expires_after" in raw else None,
            expires=self.date(raw.get("expires"), path + ("expires",)),
            breakage=Breakage(method=b["method"],
                              rate=Decimal(b["rate"]) if "rate" in b else None,
                              revisions=revisions, approved_by=b.get("approved_by")),
            priority=int(raw.get("priority", DEFAULT_PRIORITY)), ssp=ssp, bonus=bonus,
            material_right=right, unclaimed_property=unclaimed,
        )

    def overage(self, raw: Raw | None, packs: dict[str, Pack], path: FieldPath) -> Overage:
        if not raw:
            return Overage()
        top_up = None
        if raw.get("top_up"):
            t = raw["top_up"]
            top_up = TopUp(pack=t["pack"], below=Decimal(t["below"]))
            if t["pack"] not in packs:
                self.error(path + ("top_up", "pack"),
                           f"expected a pack of this contract ({', '.join(sorted(packs)) or 'none'}), "
                           f"got {t['pack']!r}")
        if raw["policy"] == "top_up" and top_up is None:
            self.error(path + ("top_up",), "is required for policy 'top_up'")
        return Overage(policy=raw["policy"], multiplier=Decimal(raw.get("multiplier", 1)),
                       top_up=top_up)

    def allowance(self, raw: Raw | None, path: FieldPath) -> Allowance | None:
        if not raw:
            return None
        per_user = raw.get("per_user")
        return Allowance(
            credits=Decimal(raw["credits"]), period=raw.get("period", "month"),
            fee=self.money(raw.get("fee", 0), path + ("fee",)),
            rollover=Decimal(raw.get("rollover", 0)),
            per_user=Decimal(per_user) if per_user is not None else None,
        )

    def tiers(self, raw: Raw | None, path: FieldPath) -> Tiers | None:
        if not raw:
            return None
        bands = []
        previous = ZERO
        for i, b in enumerate(raw["bands"]):
            up_to = Decimal(b["up_to"]) if b["up_to"] is not None else None
            last = i == len(raw["bands"]) - 1
            if up_to is None and not last:
                self.error(path + ("bands", i, "up_to"), "expected null only on the last band")
            if up_to is not None and up_to <= previous:
                self.error(path + ("bands", i, "up_to"),
                           f"expected bands in increasing order, got {up_to} after {previous}")
            if last and up_to is not None:
                self.error(path + ("bands", i, "up_to"),
                           "expected null on the last band (no upper limit)")
            previous = up_to if up_to is not None else previous
            bands.append(Band(up_to, Decimal(b["multiplier"])))
        retroactive = bool(raw.get("retroactive", False))
        expected = Decimal(raw["expected_volume"]) if "expected_volume" in raw else None
        if retroactive and raw["mode"] != "volume":
            self.error(path + ("retroactive",), f"expected mode 'volume' with retroactive: "
                                                f"true (the band reached applies to every "
                                                f"unit of the period), got {raw['mode']!r}")
        if retroactive and expected is None:
            self.error(path + ("expected_volume",), "is required with retroactive: true (the "
                                                    "list value expected per period, the "
                                                    "variable consideration's estimate)")
        if not retroactive:
            for key in ("expected_volume", "revisions"):
                if key in raw:
                    self.error(path + (key,), "applies with retroactive: true only")
        revisions = []
        previous_day: datetime.date | None = None
        for i, r in enumerate(raw.get("revisions") or []):
            here = path + ("revisions", i)
            when = self.date(r["date"], here + ("date",))
            if when is None:
                continue
            if previous_day is not None and when <= previous_day:
                self.error(here + ("date",), f"expected revisions in increasing date order, "
                                             f"got {when} after {previous_day}")
            previous_day = when
            revisions.append(TierRevision(when, Decimal(r["expected_volume"]),
                                          r.get("approved_by"), r.get("basis"),
                                          _line(self.lines, here)))
        return Tiers(mode=raw["mode"], period=raw.get("period", "month"), bands=tuple(bands),
                     retroactive=retroactive, expected_volume=expected,
                     approved_by=raw.get("approved_by"), revisions=tuple(revisions))

    def modification(self, raw: Raw, path: FieldPath, start: datetime.date,
                     end: datetime.date | None) -> Modification:
        day = self.date(raw["date"], path + ("date",)) or start
        if day < start or (end is not None and day > end):
            self.error(path + ("date",),
                       f"expected a date within the contract ({start} to {end or 'open'}), got {day}")
        if raw.get("add_credits") and "price" not in raw:
            self.error(path + ("price",), "is required when credits are added")
        expires = self.date(raw.get("expires"), path + ("expires",))
        if expires is not None and expires <= day:
            self.error(path + ("expires",), f"expected a date after the modification's date "
                                            f"{day} (a modification changes an expiry from "
                                            f"its date on; credits cannot be used on their "
                                            f"expiry date), got {expires}")
        return Modification(
            id=raw["id"], date=day, add_credits=Decimal(raw.get("add_credits", 0)),
            price=self.money(raw.get("price", 0), path + ("price",)),
            expires=expires,
            ssp=self.money(raw["ssp"], path + ("ssp",)) if "ssp" in raw else None,
            method=raw.get("method", "auto"),
            past_credit=self.money(raw.get("past_credit", 0), path + ("past_credit",)),
            discount=Decimal(raw["discount"]) if "discount" in raw else None,
            rates={m: {k: Decimal(v) for k, v in r.items()} for m, r in (raw.get("rates") or {}).items()},
            approved_by=raw.get("approved_by"),
            approved_on=self.date(raw.get("approved_on"), path + ("approved_on",)),
            evidence=raw.get("evidence"), line=_line(self.lines, path),
        )


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def _display(path: Path, base: Path | None) -> str:
    if base is not None:
        try:
            return os.path.relpath(path, base)
        except ValueError:
            pass
    return str(path)


def load_contracts(folder: str | os.PathLike[str],
                   display_base: str | os.PathLike[str] | None = None
                   ) -> tuple[ContractSet, list[ContractError]]:
    """Read and validate every contract file under ``folder``.

    Returns the contract set (built from the files without errors) and every error found.
    File names in errors are shown relative to ``display_base`` when given.
    """
    root = Path(folder)
    base = Path(display_base) if display_base is not None else None
    errors: list[ContractError] = []
    if not root.is_dir():
        return ContractSet({}, {}, {}, ()), [
            ContractError(str(root), None, "", "contracts folder not found")]

    files: list[Path] = []
    price_books: dict[str, PriceBook] = {}
    costs: dict[str, PriceBook] = {}
    customers: dict[str, Customer] = {}
    sources: dict[str, tuple[str, Lines]] = {}
    book: PriceBook | None

    for kind, sub in (("price-book", "price-books"), ("cost", "costs")):
        for path in _yaml_files(root / sub):
            files.append(path)
            name = _display(path, base)
            data, lines, file_errors = read_yaml(path, name)
            if data is not None:
                file_errors += validate_schema(data, "priceBookFile", name, lines)
            if file_errors:
                errors += file_errors
                continue
            builder = _Builder(name, lines)
            if kind == "cost":
                provider = data.get("provider", path.stem)
                book = builder.price_book(data, path.stem, provider)
                target = costs
                key = provider
            else:
                book = builder.price_book(data, path.stem, None)
                target = price_books
                key = book.id
            if builder.errors:
                errors += builder.errors
                continue
            target[key] = book

    for path in _yaml_files(root / "customers"):
        files.append(path)
        name = _display(path, base)
        data, lines, file_errors = read_yaml(path, name)
        if data is not None:
            file_errors += validate_schema(data, "customerFile", name, lines)
        if file_errors:
            errors += file_errors
            continue
        builder = _Builder(name, lines)
        customer = builder.customer(data)
        if customer.id in customers:
            builder.error(("customer",), f"duplicate customer id {customer.id!r}, also in "
                                         f"{customers[customer.id].source}")
        if builder.errors:
            errors += builder.errors
            continue
        customers[customer.id] = customer
        sources[customer.id] = (name, lines)

    # Cross-file checks: references and uniqueness.
    components: dict[str, str] = {}
    contract_ids: dict[str, str] = {}
    for customer in list(customers.values()):
        name, lines = sources[customer.id]
        bad = len(errors)
        comp = customer.component
        if comp in components:
            errors.append(ContractError(name, _line(lines, ("customer",)), "customer",
                                        f"account component {comp!r} is also that of customer "
                                        f"{components[comp]!r}; expected distinct ids"))
        components[comp] = customer.id
        for i, contract in enumerate(customer.contracts):
            here = ("contracts", i)
            if contract.id in contract_ids:
                errors.append(ContractError(name, _line(lines, here + ("id",)), _field(here + ("id",)),
                                            f"duplicate contract id {contract.id!r}, also in "
                                            f"{contract_ids[contract.id]}"))
            contract_ids[contract.id] = name
            book = price_books.get(contract.price_book)
            if book is None:
                known = ", ".join(sorted(price_books)) or "none"
                errors.append(ContractError(
                    name, _line(lines, here + ("price_book",)), _field(here + ("price_book",)),
                    f"price book {contract.price_book!r} not found in price-books/ "
                    f"(expected one of: {known})"))
                continue
            if contract.fx is not None and contract.fx.source != book.currency:
                errors.append(ContractError(
                    name, _line(lines, here + ("fx", "from")), _field(here + ("fx", "from")),
                    f"expected the price book's currency {book.currency}, got "
                    f"{contract.fx.source}"))
            elif contract.fx is None and book.currency != contract.currency:
                errors.append(ContractError(
                    name, _line(lines, here + ("currency",)), _field(here + ("currency",)),
                    f"expected the price book's currency {book.currency}, got "
                    f"{contract.currency}"))
            known_models = {m for v in book.versions for m in v.models}
            for model, override in contract.rates.items():
                if model not in known_models and set(override) < {"input", "cached_input", "output"}:
                    if not {"input", "output"} <= set(override):
                        errors.append(ContractError(
                            name, _line(lines, here + ("rates", model)),
                            _field(here + ("rates", model)),
                            f"model {model!r} is not in price book {book.id!r}; expected input "
                            f"and output rates for it"))
        if len(errors) > bad:
            del customers[customer.id]

    errors.sort(key=lambda e: (e.file, e.line or 0))
    return ContractSet(customers, price_books, costs, tuple(str(p) for p in files)), errors


def check_purchase(contracts: ContractSet, customer: str, contract_id: str | None, pack: str,
                   day: datetime.date) -> str | None:
    """Why a purchase cannot be booked against the contracts, or None if it can."""
    cust = contracts.customers.get(customer)
    if cust is None:
        return f"unknown customer {customer!r}"
    contract = cust.contract_for(contract_id, day)
    if contract is None:
        if contract_id:
            return f"customer {customer!r} has no contract {contract_id!r}"
        return f"customer {customer!r} has no contract in force on {day}"
    mod_ids = {m.id for m in contract.modifications}
    if pack not in contract.packs and pack not in mod_ids:
        known = ", ".join(sorted(contract.packs) + sorted(mod_ids)) or "none"
        return (f"contract {contract.id!r} has no pack or modification {pack!r} "
                f"(expected one of: {known})")
    return None
