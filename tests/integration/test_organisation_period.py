"""Organisation progress in a period end to end on the real broker and store: the statements of
tests/integration/test_periods.py (in and out of October 2026, its first and last millisecond,
one voided by a statement timestamped outside the period) and its goals, posted through the
API; the persister, the progress consumers and the goal consumers run as tasks of this event
loop. `GET /progress/organisation?period=2026-10` must equal an independent recomputation: the
pure organisation model over each learner's posted statements timestamped in October, every
void applied, as of October's last instant, with the goals of October as they ended; a bad
period gets 400 naming the rule."""

from __future__ import annotations

from datetime import UTC, date
from typing import Any

import httpx
import pytest

from lrs.goals import evaluate_goal, parse_goal
from lrs.progress import fold, learner_id, summarize_learner
from lrs.progress.organisation import (
    LearnerFigures,
    figures_of,
    summarize_organisation_progress,
    team_entries,
)
from lrs.settings import LrsSettings
from lrs.xapi.timefmt import parse_timestamp
from tests.conftest import Infra
from tests.integration.test_periods import (
    CONSUMERS_NOW,
    GOALS,
    OCTOBER,
    OCTOBER_JSON,
    POSTED,
    VOID,
    in_october,
    october_posted,
)
from tests.support.factories import stmt
from tests.support.live import live_api
from tests.support.polling import eventually
from tests.support.stack import make_settings, prepare_infra
from tests.support.stack import xapi_headers as headers

pytestmark = pytest.mark.integration
TENANT = "default"
H = headers()
MAX_STATEMENTS = 6
Doc = dict[str, Any]
L1, L2, L3 = (learner_id(stmt(learner=n)) for n in (1, 2, 3))


@pytest.fixture(scope="module")
async def settings(infra: Infra, module_namespace: str) -> LrsSettings:
    settings = make_settings(
        infra.kafka_bootstrap,
        infra.mongodb_uri,
        module_namespace,
        period_view_max_statements=MAX_STATEMENTS,
    )
    await prepare_infra(settings, TENANT)
    return settings


def october_figures(learner: str) -> LearnerFigures:
    """The learner's days (UTC dates of the posted October statements that are not voided,
    read from the timestamps here) and course rows (the pure model over them)."""
    voided = VOID["object"]["id"]
    mine = [s for s in POSTED if learner_id(s) == learner and in_october(s)]
    live_days = {
        parse_timestamp(s["timestamp"]).astimezone(UTC).date() for s in mine if s["id"] != voided
    }
    summary = summarize_learner(fold(learner, [*mine, VOID]), date(2026, 10, 31))
    return figures_of(learner, live_days, summary["activities"], ())


def expected_organisation(team: str) -> Doc:
    figures = [october_figures(lr) for lr in (L1, L2, L3)]
    teams = team_entries([(team, "Sales", [L1, L2])], figures)
    definitions = {g["goalId"]: parse_goal(g, TENANT, date(2026, 10, 1)) for g in GOALS}
    state = fold(L1, [*[s for s in POSTED if learner_id(s) == L1], VOID])
    final = {g: evaluate_goal(d, {L1: state}, CONSUMERS_NOW) for g, d in definitions.items()}
    owner = {"kind": "learner", "id": L1}
    ended = [  # how the goals overlapping October ended (September's is not of October)
        {"owner": owner, "status": final["october-minutes"]["status"]},
        {"owner": owner, "status": final["monthly-course"]["previous_period"]["status"]},
    ]
    value = summarize_organisation_progress(figures, teams, ended, OCTOBER[1])
    del value["next_check_at"]
    return {**value, "tenant": TENANT, "period": OCTOBER_JSON, "learners_truncated": False}


async def test_organisation_in_a_period_equals_a_recomputation(settings: LrsSettings) -> None:
    async with october_posted(settings) as (http, team):
        expected = expected_organisation(team)
        # the figures as October ended: L1 on its last millisecond, L2 and L3 earlier
        assert expected["learners"] == 3
        assert expected["active"] == {"today": 1, "7d": 1, "30d": 3}
        assert expected["goals"]["learner"]["achieved"] == 2
        assert [t["members"] for t in expected["teams"]] == [2]

        async def october() -> Any:
            answer = await http.get("/progress/organisation", params={"period": "2026-10"})
            return answer.json()

        got = await eventually(october, lambda body: body == expected)
        assert got == expected
        dates = {"from": "2026-10-01", "to": "2026-10-31"}
        ranged = (await http.get("/progress/organisation", params=dates)).json()
        assert ranged == {**expected, "period": {**OCTOBER_JSON, "label": "2026-10-01/2026-10-31"}}
        # without a period: the published value, none here (no organisation consumer runs)
        assert (await http.get("/progress/organisation")).status_code == 404
        # more statements than LRS_PERIOD_VIEW_MAX_STATEMENTS in the year: 400 naming it
        too_many = await http.get("/progress/organisation", params={"period": "2026"})
        assert too_many.status_code == 400, too_many.text
        assert "LRS_PERIOD_VIEW_MAX_STATEMENTS = 6" in too_many.json()["error"]["message"]


@pytest.mark.parametrize(
    ("params", "rule"),
    [
        ({"period": "2026-13"}, "period-form"),
        ({"from": "2026-11-01", "to": "2026-10-01"}, "period-range"),
    ],
)
async def test_a_bad_period_gets_400_naming_the_rule(
    settings: LrsSettings, params: dict[str, str], rule: str
) -> None:
    async with live_api(settings) as base, httpx.AsyncClient(base_url=base, headers=H) as http:
        answer = await http.get("/progress/organisation", params=params)
        assert answer.status_code == 400, answer.text
        assert [d["rule"] for d in answer.json()["error"]["details"]] == [rule]
