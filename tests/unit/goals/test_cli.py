"""`lrs goals ...`: the parser and the actions over in-memory stores (the same service as
the API; tests/integration covers the stores)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lrs.adapters.memory import InMemoryEventBus
from lrs.adapters.memory_goals import InMemoryGoalProgressReader, InMemoryGoalStore
from lrs.entry import admin_cli
from lrs.ports.credentials import Principal
from lrs.services.goals import GoalDeps
from lrs.xapi.errors import XapiError

OPERATOR = Principal("acme", "cli", frozenset({"all", "define"}), {})
GOAL = {
    "goalId": "habit",
    "name": "two days a week",
    "owner": {"kind": "learner", "id": "mbox:mailto:a@example.org"},
    "recurrence": "week",
    "targets": [{"kind": "learning_days", "days": 2}],
}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    admin_cli.add_parsers(sub)
    return parser.parse_args(list(argv))


def deps() -> GoalDeps:
    return GoalDeps(
        InMemoryGoalStore(),
        InMemoryGoalProgressReader(),
        InMemoryEventBus(),
        lambda: datetime(2026, 3, 1, tzinfo=UTC),
        "goals",
        "changes",
    )


async def test_create_list_archive(tmp_path: Path) -> None:
    goal_file = tmp_path / "goal.json"
    goal_file.write_text(json.dumps(GOAL))
    d = deps()
    create = parse("goals", "create", "--tenant", "acme", str(goal_file))
    create.body = admin_cli._goal_body(create)
    assert (await admin_cli._goal_action(d, OPERATOR, create))["goalId"] == "habit"
    listing = parse(
        "goals", "list", "--tenant", "acme", "--owner", "learner:mbox:mailto:a@example.org"
    )
    assert [g["goalId"] for g in await admin_cli._goal_action(d, OPERATOR, listing)] == ["habit"]
    archive = parse("goals", "archive", "--tenant", "acme", "habit")
    assert (await admin_cli._goal_action(d, OPERATOR, archive))["archived"] is True
    assert await admin_cli._goal_action(d, OPERATOR, listing) == []
    assert (
        await admin_cli._goal_action(d, OPERATOR, parse("goals", "progress", "--tenant", "acme"))
        == []
    )


def test_a_file_that_is_not_json_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(XapiError, match="not JSON"):
        admin_cli._goal_body(parse("goals", "put", "--tenant", "acme", "habit", str(bad)))
