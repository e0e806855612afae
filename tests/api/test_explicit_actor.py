"""The caller is an argument: a service that decides on scope or authority is handed its actor.

Services once read the actor from `session.info` and fell back to the system actor (which sees
everything) when none was set; these tests keep that door shut for new services too.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy.orm import Session

import supervision
import supervision.access.scope as scope
from supervision import calendar as cal
from supervision import compliance, escrow, registry
from supervision.access.scope import SYSTEM
from supervision.errors import Forbidden

from ..support.factories import Factory


def _modules(package: ModuleType) -> Iterator[ModuleType]:
    yield package
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        yield importlib.import_module(info.name)


def _actor_checked() -> list[tuple[str, Callable[..., Any]]]:
    """Every public function of registry/, escrow/ and compliance/ (and the calendar's
    writes) that reads `actor`-dependent scope: the ones whose body names `actor`."""
    found = []
    for package in (registry, escrow, compliance):
        for module in _modules(package):
            for name, fn in vars(module).items():
                if (name.startswith("_") or not inspect.isfunction(fn)
                        or fn.__module__ != module.__name__):
                    continue
                params = list(inspect.signature(fn).parameters)
                if params[:1] == ["session"] and "actor" in inspect.getsource(fn):
                    found.append((f"{module.__name__}.{name}", fn))
    for name in ("put_override", "delete_override", "put_school_year"):
        found.append((f"supervision.calendar.{name}", getattr(cal, name)))
    return found


SERVICES = _actor_checked()


def test_the_scan_finds_the_services_it_guards() -> None:
    names = {name for name, _ in SERVICES}
    assert {"supervision.escrow.consumption.record_attendance",
            "supervision.registry.institutions.get_institution",
            "supervision.compliance.runs.run_compliance",
            "supervision.calendar.put_override"} <= names
    assert len(names) > 40


@pytest.mark.parametrize(("name", "fn"), SERVICES, ids=[name for name, _ in SERVICES])
def test_a_service_that_needs_its_caller_takes_actor_second_and_required(
        name: str, fn: Callable[..., Any]) -> None:
    params = list(inspect.signature(fn).parameters.values())
    assert [p.name for p in params[:2]] == ["session", "actor"], name
    assert params[1].default is inspect.Parameter.empty, f"{name}: actor has a default"
    assert params[1].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, name


def test_nothing_reads_the_caller_from_the_session_any_more() -> None:
    assert not hasattr(scope, "actor_of")
    for module in _modules(supervision):
        if module.__name__ in ("supervision.access.audit", "supervision.web.auth"):
            continue  # the trail names whom the edge set; the edge sets it
        source = inspect.getsource(module)
        assert 'info.get("actor")' not in source, module.__name__
        assert "actor_of(" not in source, module.__name__


def test_a_service_called_without_an_actor_is_refused_before_it_writes(
        db: Session, make: Factory) -> None:
    institution = make.institution()
    with pytest.raises(TypeError):
        registry.get_institution(db, institution.id)  # type: ignore[call-arg]


def test_the_console_cannot_change_the_calendar_by_leaving_the_actor_out(db: Session) -> None:
    """The console once saved a district regulator's calendar change the API refused: with the
    actor an argument, the district regulator is refused in the service whoever calls it."""
    import datetime as dt

    district = scope.Actor(principal_id=7, role="regulator", name="梁溪区", district_code="320213")
    with pytest.raises(Forbidden):
        cal.put_override(db, district, dt.date(2027, 1, 4), kind="workday", name=None)
    assert cal.day_info(db, dt.date(2027, 1, 4)).source != "override"
    assert cal.put_override(db, SYSTEM, dt.date(2027, 1, 4), kind="workday",
                            name=None).source == "override"
