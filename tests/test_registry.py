"""Scenario kinds live in one registry: every module of `scenarios/kinds` fills in `Kind` once
and is listed there, and profiles accept exactly the registered names and parameters."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import scenarios.kinds
from core import ConfigError
from scenarios import profile
from scenarios.kind import Kind
from scenarios.kinds import KINDS, get_kind


def test_every_kind_module_is_registered_and_nothing_else() -> None:
    declared: list[Kind] = []
    for module_info in pkgutil.iter_modules(scenarios.kinds.__path__):
        module = importlib.import_module(f"scenarios.kinds.{module_info.name}")
        found = getattr(module, "KINDS", None) or (getattr(module, "KIND", None),)
        assert all(isinstance(kind, Kind) for kind in found), module_info.name
        declared.extend(found)
    assert sorted(kind.name for kind in declared) == sorted(KINDS)
    assert all(KINDS[kind.name] is kind for kind in declared)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_kind_declares_its_parameters_as_lists_and_measures_asynchronously(name: str) -> None:
    kind = KINDS[name]
    assert kind.about and kind.parameters
    assert all(isinstance(values, list) and values for values in kind.parameters.values())
    assert inspect.iscoroutinefunction(kind.measure)


def test_a_profile_takes_a_kinds_defaults_and_refuses_what_it_does_not_declare() -> None:
    parsed = profile.parse({"scenario": [{"kind": "knee", "subscribers": 7}]}, "one")
    (_, values, _, _), *_ = parsed.scenarios
    assert values == {**KINDS["knee"].parameters, "subscribers": [7]}
    with pytest.raises(ConfigError, match="expected knee keys among"):
        profile.parse({"scenario": [{"kind": "knee", "subscriber": 7}]}, "typo")


def test_an_unknown_kind_says_what_exists() -> None:
    with pytest.raises(ValueError, match="expected a scenario kind among broadcast, baseline"):
        get_kind("broadcats")


@pytest.mark.parametrize("name", profile.builtin_profiles())
def test_every_step_of_a_profile_has_its_own_id(name: str) -> None:
    """Ids name histogram and timeline files: two steps with one id would overwrite them."""
    ids = [step.id for step in profile.load(name).steps()]
    assert len(ids) == len(set(ids))
