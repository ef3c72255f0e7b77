"""The one rule telling an outage (store or broker unreachable, try again) from a fault, on
the table of tests/support/outages.py."""

from __future__ import annotations

import pytest

from lrs.outages import is_outage, outage_of
from tests.support.outages import FAULTS, OUTAGES, label, name


@pytest.mark.parametrize(("error", "dependency"), OUTAGES, ids=label)
def test_an_unreachable_store_or_broker_is_an_outage(error: BaseException, dependency: str) -> None:
    assert outage_of(error) == dependency
    assert is_outage(error)


@pytest.mark.parametrize("error", FAULTS, ids=name)
def test_anything_else_is_a_fault(error: BaseException) -> None:
    assert outage_of(error) is None
    assert not is_outage(error)
