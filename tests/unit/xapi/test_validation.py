"""Statement validation (lrs.xapi.validation) against fixtures of xAPI 1.0.3 and 2.0.0.

Fixtures: ``tests/fixtures/statements/<version>/valid/*.json`` must pass;
``.../invalid/<rule>[--<variant>].json`` must fail with ``<rule>`` among the issues.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import referencing

from lrs.xapi import _validation_schema as schema_mod
from lrs.xapi.errors import InvalidStatement
from lrs.xapi.validation import (
    SUPPORTED_VERSIONS,
    statement_issues,
    validate_statement,
    validate_statements,
)
from tests.support import factories

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "statements"
KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
RULE_KEYWORDS = {
    "pattern",
    "const",
    "enum",
    "oneOf",
    "not",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minLength",
    "dependentRequired",
}


def _fixtures(kind: str) -> list[Any]:
    return [
        pytest.param(version, path, id=f"{version}/{path.stem}")
        for version in SUPPORTED_VERSIONS
        for path in sorted((FIXTURES / version / kind).glob("*.json"))
    ]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _rules(exc: InvalidStatement) -> set[str]:
    return {issue.rule for issue in exc.details}


def _reference_validator(version: str) -> jsonschema.Draft202012Validator:
    docs = schema_mod.load_schemas(version)
    registry: referencing.Registry[Any] = referencing.Registry().with_resources(
        (uri, referencing.Resource.from_contents(doc)) for uri, doc in docs.items()
    )
    root = docs[schema_mod.schema_uri(version, "statement")]
    return jsonschema.Draft202012Validator(root, registry=registry)


VALID = _fixtures("valid")
INVALID = _fixtures("invalid")


def test_fixture_sets_are_not_empty() -> None:
    assert len(VALID) >= 80
    assert len(INVALID) >= 200


@pytest.mark.parametrize(("version", "path"), VALID)
def test_valid_fixture_passes(version: str, path: Path) -> None:
    doc = _load(path)
    assert statement_issues(doc, version=version) == []
    validate_statement(doc, version=version)


@pytest.mark.parametrize(("version", "path"), INVALID)
def test_invalid_fixture_names_its_rule(version: str, path: Path) -> None:
    expected = path.stem.split("--")[0]
    with pytest.raises(InvalidStatement) as info:
        validate_statement(_load(path), version=version)
    assert expected in _rules(info.value), [issue.as_dict() for issue in info.value.details]


@pytest.mark.parametrize(("version", "path"), VALID + INVALID)
def test_reference_validator_agrees_on_schema_verdict(version: str, path: Path) -> None:
    doc = _load(path)
    reference_ok = _reference_validator(version).is_valid(doc)
    assert schema_mod.compiled(version).is_valid(doc) is reference_ok


@pytest.mark.parametrize(("version", "path"), VALID + INVALID)
def test_input_is_not_mutated(version: str, path: Path) -> None:
    doc = _load(path)
    before = copy.deepcopy(doc)
    with contextlib.suppress(InvalidStatement):
        validate_statement(doc, version=version)
    assert doc == before


def test_message_names_path_rule_and_section() -> None:
    doc = factories.minimal_statement()
    doc["actor"]["mbox"] = "learner@example.org"
    with pytest.raises(InvalidStatement) as info:
        validate_statement(doc)
    assert info.value.message.startswith("$.actor.mbox: ")
    assert "(xAPI Data 2.4.2.3)" in info.value.message
    assert [i.as_dict()["rule"] for i in info.value.details] == ["mbox-mailto"]


def test_several_problems_are_all_reported() -> None:
    doc = factories.full_statement(grade="A", timestamp="yesterday")
    with pytest.raises(InvalidStatement) as info:
        validate_statement(doc)
    assert {"no-additional-properties", "timestamp-format"} <= _rules(info.value)
    assert "1 more problem" in info.value.message


def test_batch_paths_name_the_statement() -> None:
    bad = factories.minimal_statement()
    bad["verb"]["id"] = "completed"
    with pytest.raises(InvalidStatement) as info:
        validate_statements([factories.full_statement(), bad], version="2.0.0")
    assert [issue.path for issue in info.value.details] == ["$[1].verb.id"]


def test_batch_of_valid_statements_passes() -> None:
    validate_statements([factories.full_statement() for _ in range(5)])
    validate_statements([])


def test_batch_that_is_not_a_list_is_rejected() -> None:
    with pytest.raises(InvalidStatement) as info:
        validate_statements({"actor": {}})  # type: ignore[arg-type]
    assert _rules(info.value) == {"statements-array"}


def test_python_rules_report_batch_paths() -> None:
    doc = factories.full_statement(result=factories.scored_result(raw=99))
    with pytest.raises(InvalidStatement) as info:
        validate_statements([doc])
    assert [issue.path for issue in info.value.details] == ["$[0].result.score.raw"]


@pytest.mark.parametrize("doc", [None, 1, 2.5, True, "statement", [], {}, [{}], {"actor": None}])
def test_non_statements_are_rejected_cleanly(doc: object) -> None:
    with pytest.raises(InvalidStatement):
        validate_statement(doc)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(_paths(item, (*prefix, index)))
    return out


def _replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(doc)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


WEIRD = [None, [], {}, "x", 0, -1.5, True, [None], [{}], {"": None}]


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_weird_values_anywhere_never_raise_anything_else(version: str) -> None:
    doc = factories.full_statement(
        object=factories.interaction("choice", ["a"], choices=factories.components("a", "b")),
        attachments=[factories.attachment()],
        authority=factories.group(1, 2),
    )
    rejected = 0
    for path in _paths(doc):
        for value in WEIRD:
            issues = statement_issues(_replaced(doc, path, value), version=version)
            rejected += bool(issues)
            assert all(KEBAB.match(issue.rule) for issue in issues)
    assert rejected > len(_paths(doc)) * 5


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_substatement_gets_the_same_python_rules(version: str) -> None:
    inner = factories.substatement(timestamp="2023-02-29T00:00:00Z", context=...)
    with pytest.raises(InvalidStatement) as info:
        validate_statement(factories.full_statement(object=inner, context=...), version=version)
    assert [(i.path, i.rule) for i in info.value.details] == [
        ("$.object.timestamp", "timestamp-format")
    ]


def test_context_agents_need_2_0() -> None:
    ctx = factories.full_context()
    ctx["contextAgents"] = [{"objectType": "contextAgent", "agent": factories.agent(3)}]
    doc = factories.full_statement(context=ctx)
    validate_statement(doc, version="2.0.0")
    with pytest.raises(InvalidStatement):
        validate_statement(doc, version="1.0.3")


def test_non_json_python_objects_are_rejected_cleanly() -> None:
    with pytest.raises(InvalidStatement) as info:
        validate_statement(object())
    assert _rules(info.value) == {"not-json"}


def test_wrong_type_message_names_the_expected_type() -> None:
    with pytest.raises(InvalidStatement) as info:
        validate_statement(factories.full_statement(result=[]))
    assert info.value.message == "$.result: must be of type object (xAPI Data 2.2)"


def test_unknown_version_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        validate_statement(factories.full_statement(), version="0.9")


def _nodes(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_nodes(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_nodes(value))
    return found


def _silent_nodes(doc: dict[str, Any]) -> list[int]:
    """Nodes under ``if``/``not`` (and ``has-ifi``) only select or negate; they never report."""
    roots = [doc["$defs"].get("has-ifi")]
    roots += [node[key] for node in _nodes(doc) for key in ("if", "not") if key in node]
    return [id(sub) for root in roots for sub in _nodes(root)]


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_every_reporting_schema_node_names_its_rule(version: str) -> None:
    for uri, doc in schema_mod.load_schemas(version).items():
        assert uri == doc["$id"]
        assert uri.startswith(f"https://lrs.local/schemas/xapi/{version}/")
        silent = set(_silent_nodes(doc))
        for node in _nodes(doc):
            assert not str(node.get("$ref", "")).startswith("http"), node
            if "x-rule" in node:
                assert KEBAB.match(node["x-rule"])
                assert node["x-message"]
                assert node["x-spec"]
            elif RULE_KEYWORDS & node.keys():
                assert id(node) in silent, (uri, node)
