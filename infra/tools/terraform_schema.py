"""Check Terraform files against the Google provider's schema, without the provider.

`terraform validate` needs the provider binary, which only the Terraform
registry serves. The same schema ships on npm as the jsii assembly of the CDK
for Terraform bindings (`@cdktf/provider-google`), generated from the
provider's own schema: every resource and data source, its arguments, its
nested blocks, which of them are required, and the attributes it exports.
This module reads that assembly and checks parsed `.tf` files against it:

- every argument and block of a resource or data source exists in the provider;
- every required argument and block is set;
- every `var.`, `local.`, resource and data-source reference points at
  something declared, and a resource attribute that is read exists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

ASSEMBLY_PREFIX = "@cdktf/provider-google."
_DOCS_LINK = re.compile(r"docs/(resources|data-sources)/\w+ (google_\w+)\}")
_ANCHOR = re.compile(r"#(\w+)\}")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")

RESOURCE_META_ARGUMENTS = frozenset({"count", "for_each", "depends_on", "provider"})
RESOURCE_META_BLOCKS = frozenset({"lifecycle", "provisioner", "connection"})
BLOCK_MARK = "__is_block__"

_PARSE_OPTIONS = SerializationOptions(
    with_comments=False, strip_string_quotes=True, preserve_heredocs=False
)
_REFERENCE = re.compile(
    r"(?<![\w.])(?:(var|local)\.(\w+)|data\.(google_\w+)\.(\w+)(?:\[[^\]]*\])?(?:\.(\w+))?"
    r"|(google_\w+)\.(\w+)(?:\[[^\]]*\])?(?:\.(\w+))?)"
)


@dataclass
class BlockSchema:
    """Arguments (name -> required) and nested blocks (name -> schema) of one block."""

    arguments: dict[str, bool] = field(default_factory=dict)
    blocks: dict[str, tuple[BlockSchema, bool]] = field(default_factory=dict)
    # What a reference may read: arguments and the attributes the provider computes.
    exported: frozenset[str] = frozenset()


@dataclass
class ProviderSchema:
    version: str
    resources: dict[str, BlockSchema]
    data_sources: dict[str, BlockSchema]


@cache
def load_provider_schema(assembly: Path) -> ProviderSchema:
    """Read the jsii assembly once per process (it is about 100 MB of JSON)."""
    document: dict[str, Any] = json.loads(assembly.read_text(encoding="utf-8"))
    types: dict[str, Any] = document["types"]
    version = str(document.get("metadata", {}).get("providerVersion", ""))
    if not version:
        version = _provider_version(types)
    resources: dict[str, BlockSchema] = {}
    data_sources: dict[str, BlockSchema] = {}
    for fqn, jsii_type in types.items():
        if jsii_type.get("kind") != "class" or not fqn.startswith(ASSEMBLY_PREFIX):
            continue
        initializer = jsii_type.get("initializer") or {}
        match = _DOCS_LINK.search(initializer.get("docs", {}).get("summary", ""))
        if match is None:
            continue
        config = [p for p in initializer.get("parameters", []) if p["name"] == "config"]
        if not config:
            continue
        schema = _block(types, config[0]["type"]["fqn"], set())
        schema.exported = frozenset(
            {*schema.arguments, *schema.blocks, *_exported(jsii_type)} - {"tf_resource_type"}
        )
        target = resources if match.group(1) == "resources" else data_sources
        target[match.group(2)] = schema
    return ProviderSchema(version=version, resources=resources, data_sources=data_sources)


def parse_module(directory: Path) -> dict[Path, dict[str, Any]]:
    """Every `.tf` file of one module, parsed by python-hcl2."""
    parsed = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            parsed[path] = hcl2.load(handle, serialization_options=_PARSE_OPTIONS)
    return parsed


def check_module(directory: Path, schema: ProviderSchema) -> list[str]:
    """Every problem found in the module's `.tf` files; an empty list when there is none."""
    parsed = parse_module(directory)
    problems: list[str] = []
    declared = _declarations(parsed.values())
    for path, document in parsed.items():
        for kind, type_name, name, body in _typed_blocks(document):
            where = f"{path.name}: {kind} {type_name}.{name}"
            known = schema.resources if kind == "resource" else schema.data_sources
            block_schema = known.get(type_name)
            if block_schema is None:
                problems.append(
                    f"{where}: the provider {schema.version} has no {kind} of that type"
                )
                continue
            problems += _check_body(where, body, block_schema, top_level=True)
        for text in _strings(document):
            problems += [f"{path.name}: {problem}" for problem in _check_references(text, declared)]
            problems += [f"{path.name}: {problem}" for problem in _check_reads(text, schema)]
    return problems


@dataclass
class _Declared:
    variables: set[str] = field(default_factory=set)
    locals: set[str] = field(default_factory=set)
    resources: set[tuple[str, str]] = field(default_factory=set)
    data_sources: set[tuple[str, str]] = field(default_factory=set)


def _declarations(documents: Iterable[dict[str, Any]]) -> _Declared:
    declared = _Declared()
    for document in documents:
        for block in document.get("variable", []):
            declared.variables.update(name for name in block if name != BLOCK_MARK)
        for block in document.get("locals", []):
            declared.locals.update(name for name in block if name != BLOCK_MARK)
        for kind, type_name, name, _ in _typed_blocks(document):
            target = declared.resources if kind == "resource" else declared.data_sources
            target.add((type_name, name))
    return declared


def _check_references(text: str, declared: _Declared) -> list[str]:
    problems = []
    for match in _REFERENCE.finditer(text):
        scope, name, data_type, data_name, _, res_type, res_name, _attribute = match.groups()
        if scope == "var" and name not in declared.variables:
            problems.append(f"reference to undeclared variable var.{name}")
        elif scope == "local" and name not in declared.locals:
            problems.append(f"reference to undeclared local.{name}")
        elif data_type and (data_type, data_name) not in declared.data_sources:
            problems.append(f"reference to undeclared data.{data_type}.{data_name}")
        elif res_type and (res_type, res_name) not in declared.resources:
            problems.append(f"reference to undeclared resource {res_type}.{res_name}")
    return problems


def _check_reads(text: str, schema: ProviderSchema) -> list[str]:
    """Every `google_x.name.attribute` read is an attribute that resource type has."""
    problems = []
    for match in _REFERENCE.finditer(text):
        _, _, data_type, _, data_attribute, res_type, _, res_attribute = match.groups()
        if res_type and res_attribute:
            known = schema.resources.get(res_type)
            if known is not None and res_attribute not in known.exported:
                problems.append(f"{res_type} has no attribute {res_attribute!r}")
        if data_type and data_attribute:
            known = schema.data_sources.get(data_type)
            if known is not None and data_attribute not in known.exported:
                problems.append(f"data {data_type} has no attribute {data_attribute!r}")
    return problems


def _check_body(
    where: str, body: Mapping[str, Any], schema: BlockSchema, *, top_level: bool = False
) -> list[str]:
    problems: list[str] = []
    present: set[str] = set()
    for key, value in body.items():
        if key == BLOCK_MARK:
            continue
        if top_level and (key in RESOURCE_META_ARGUMENTS or key in RESOURCE_META_BLOCKS):
            continue
        if key == "dynamic":
            for dynamic in value:
                for label, dynamic_body in dynamic.items():
                    if label == BLOCK_MARK:
                        continue
                    present.add(label)
                    problems += _check_nested(
                        f"{where} dynamic {label}", label, dynamic_body.get("content", []), schema
                    )
            continue
        present.add(key)
        if key in schema.arguments:
            if _is_block_list(value):
                problems.append(f"{where}: {key} is an argument (key = value), not a block")
            continue
        if key in schema.blocks:
            if _is_block_list(value):
                problems += _check_nested(f"{where} {key}", key, value, schema)
            continue
        problems.append(f"{where}: unknown argument or block {key!r}")
    for name, required in schema.arguments.items():
        if required and name not in present:
            problems.append(f"{where}: required argument {name!r} is missing")
    for name, (_, required) in schema.blocks.items():
        if required and name not in present:
            problems.append(f"{where}: required block {name!r} is missing")
    return problems


def _check_nested(where: str, key: str, bodies: Any, schema: BlockSchema) -> list[str]:
    if key not in schema.blocks:
        return [f"{where}: unknown block {key!r}"]
    nested, _ = schema.blocks[key]
    problems: list[str] = []
    for body in bodies if isinstance(bodies, list) else [bodies]:
        if isinstance(body, Mapping):
            problems += _check_body(where, body, nested)
    return problems


def _is_block_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, Mapping) and item.get(BLOCK_MARK) for item in value)
    )


def _typed_blocks(document: Mapping[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for kind in ("resource", "data"):
        for block in document.get(kind, []):
            for type_name, named in block.items():
                if type_name == BLOCK_MARK:
                    continue
                for name, body in named.items():
                    if name != BLOCK_MARK:
                        yield kind, type_name, name, body


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _block(types: Mapping[str, Any], fqn: str, seen: set[str]) -> BlockSchema:
    schema = BlockSchema()
    for prop in _properties(types, fqn):
        name = _terraform_name(prop)
        nested = _struct_of(types, prop["type"])
        required = not prop.get("optional", False)
        if nested is not None and nested not in seen:
            schema.blocks[name] = (_block(types, nested, seen | {nested}), required)
        else:
            schema.arguments[name] = required
    return schema


def _properties(types: Mapping[str, Any], fqn: str) -> list[dict[str, Any]]:
    jsii_type = types[fqn]
    props = list(jsii_type.get("properties", []))
    for parent in jsii_type.get("interfaces", []):
        if parent.startswith(ASSEMBLY_PREFIX):
            props += _properties(types, parent)
    return props


def _struct_of(types: Mapping[str, Any], jsii_ref: Mapping[str, Any]) -> str | None:
    """The struct a property holds (a nested block), if it holds one."""
    if "fqn" in jsii_ref:
        fqn = str(jsii_ref["fqn"])
        target = types.get(fqn)
        if target is not None and target.get("datatype"):
            return fqn
        return None
    if "collection" in jsii_ref:
        return _struct_of(types, jsii_ref["collection"]["elementtype"])
    if "union" in jsii_ref:
        for option in jsii_ref["union"]["types"]:
            found = _struct_of(types, option)
            if found is not None:
                return found
    return None


def _terraform_name(prop: Mapping[str, Any]) -> str:
    # The docs link ends in the registry's anchor, which is the Terraform name.
    anchors = _ANCHOR.findall(prop.get("docs", {}).get("remarks", ""))
    return anchors[-1] if anchors else _snake(str(prop["name"]))


def _exported(jsii_type: Mapping[str, Any]) -> set[str]:
    names = set()
    for prop in jsii_type.get("properties", []):
        if prop.get("static") or prop.get("protected"):
            continue
        name = str(prop["name"])
        # cdktf exposes `fooInput` beside `foo` for each argument.
        if name.endswith("Input"):
            continue
        names.add(_snake(name))
    return names


def _snake(name: str) -> str:
    return _CAMEL.sub(r"_\1", name).lower()


def _provider_version(types: Mapping[str, Any]) -> str:
    for jsii_type in types.values():
        summary = jsii_type.get("initializer", {}).get("docs", {}).get("summary", "")
        found = re.search(r"hashicorp/google/([0-9.]+)/docs", summary)
        if found:
            return found.group(1)
    return "unknown"
