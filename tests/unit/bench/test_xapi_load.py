"""The pure parts of the benchmark driver (bench/xapi_load.py, bench/workload.py,
bench/common.py): the workload is the same for the same seed, the percentiles are by nearest
rank, modes parse, run ids are new ids, duplicates and `more` links are counted and followed."""

from __future__ import annotations

import math
import uuid

import pytest

from bench.common import pct, quantile
from bench.workload import Workload
from bench.xapi_load import (
    Mode,
    duplicates,
    for_run,
    found_once,
    next_page,
    parse_mode,
    registration_of,
    sample,
)


def test_the_same_seed_gives_the_same_statements() -> None:
    assert Workload(5).statements(300) == Workload(5).statements(300)
    assert Workload(5).statements(50) != Workload(6).statements(50)


def test_the_workload_has_its_learners_teams_activities_and_results() -> None:
    statements = Workload(3).statements(2000)
    assert len({s["id"] for s in statements}) == 2000
    assert len({s["actor"]["mbox"] for s in statements}) == 200
    assert {s["context"]["team"]["objectType"] for s in statements} == {"Group"}
    assert len({s["context"]["team"]["mbox"] for s in statements}) == 10
    modules = {s["object"]["id"] for s in statements}
    courses = {p["id"] for s in statements for p in s["context"]["contextActivities"]["parent"]}
    assert (len(modules), len(courses)) == (16, 4)
    assert all(
        set(s["result"]) == {"score", "success", "completion", "duration"} for s in statements
    )


def test_a_session_keeps_one_learner_for_that_many_statements() -> None:
    statements = Workload(8).statements(9, session=3)
    actors = [s["actor"]["mbox"] for s in statements]
    assert actors[0:3] == [actors[0]] * 3
    assert actors[3:6] == [actors[3]] * 3
    assert actors[6:9] == [actors[6]] * 3


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([4.0, 1.0, 3.0, 2.0], 0.5, 2.0),
        ([4.0, 1.0, 3.0, 2.0], 0.75, 3.0),
        ([4.0, 1.0, 3.0, 2.0], 1.0, 4.0),
        ([4.0, 1.0, 3.0, 2.0], 0.0, 1.0),
        ([float(v) for v in range(1, 101)], 0.99, 99.0),
        ([float(v) for v in range(1, 101)], 0.95, 95.0),
        ([float(v) for v in range(1, 1001)], 0.999, 999.0),
        ([7.0], 0.99, 7.0),
    ],
)
def test_quantiles_are_by_nearest_rank(values: list[float], p: float, expected: float) -> None:
    assert quantile(values, p) == expected


def test_no_values_have_no_quantile_and_pct_is_in_milliseconds() -> None:
    assert math.isnan(quantile([], 0.5))
    assert pct([0.001, 0.002, 0.003], 0.5) == 2.0


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("batch100x4", Mode("batch100x4", 100, 4)),
        ("batch10x16", Mode("batch10x16", 10, 16)),
        ("single16", Mode("single16", 1, 16)),
    ],
)
def test_modes_parse(name: str, mode: Mode) -> None:
    assert parse_mode(name) == mode


@pytest.mark.parametrize("name", ["batch100", "single", "batch0x4", "single0", "bulk10x2"])
def test_a_wrong_mode_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="mode"):
        parse_mode(name)


def test_a_run_gives_new_ids_and_its_registration_and_keeps_the_rest() -> None:
    seeded = Workload(1).statements(20)
    first, again, other = (
        for_run(seeded, "a", "m"),
        for_run(seeded, "a", "m"),
        for_run(seeded, "b", "m"),
    )
    assert first == again
    assert {s["id"] for s in first}.isdisjoint({s["id"] for s in other})
    assert {s["id"] for s in first}.isdisjoint({s["id"] for s in seeded})
    assert all(uuid.UUID(s["id"]) for s in first)
    assert {s["context"]["registration"] for s in first} == {registration_of("a", "m")}
    assert registration_of("a", "m") != registration_of("a", "n")
    assert [s["result"] for s in first] == [s["result"] for s in seeded]
    assert "registration" not in seeded[0]["context"]


def test_every_id_is_checked_up_to_the_limit_then_a_fixed_sample() -> None:
    ids = [str(n) for n in range(100)]
    assert sample(ids, 100) == ids
    picked = sample(ids, 10)
    assert len(set(picked)) == 10
    assert set(picked) <= set(ids)
    assert picked == sample(ids, 10)


def test_duplicates_count_every_extra_listing() -> None:
    assert duplicates(["a", "b", "c"]) == 0
    assert duplicates(["a", "b", "a", "a", "c", "c"]) == 3


def test_more_links_are_relative_to_the_server() -> None:
    endpoint = "http://127.0.0.1:8100/xAPI"
    assert next_page(endpoint, None) is None
    assert next_page(endpoint, "") is None
    assert next_page(endpoint, "/xAPI/statements?pit_id=x") == (
        "http://127.0.0.1:8100/xAPI/statements?pit_id=x"
    )
    assert next_page(endpoint, "http://other:1/s?more=1") == "http://other:1/s?more=1"


def test_a_statement_by_id_is_found_once_as_a_statement_or_a_result_of_one() -> None:
    assert found_once({"id": "a", "verb": {}}, "a")
    assert not found_once({"id": "b"}, "a")
    assert found_once({"statements": [{"id": "a"}], "more": ""}, "a")
    assert not found_once({"statements": []}, "a")
    assert not found_once({"statements": [{"id": "a"}, {"id": "a"}]}, "a")
    assert not found_once({"statements": [{"id": "b"}]}, "a")
    assert not found_once([{"id": "a"}], "a")
