"""Scenario names live in one registry: every profile kind has a module, and the results schema
accepts exactly those kinds."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from scenarios import profile, registry


def test_every_profile_kind_has_a_scenario_module_and_no_more() -> None:
    assert set(registry.SCENARIOS) == set(profile.SCENARIOS)


def test_the_results_schema_knows_exactly_the_registered_scenarios() -> None:
    schema = json.loads((resources.files("record") / "results.schema.json").read_text())
    kinds = schema["$defs"]["step"]["properties"]["scenario"]["enum"]
    assert sorted(kinds) == sorted(registry.SCENARIOS)


def test_an_unknown_scenario_says_what_exists() -> None:
    with pytest.raises(ValueError, match="expected a scenario among broadcast, baseline"):
        registry.get_scenario("broadcats")


@pytest.mark.parametrize("name", profile.builtin_profiles())
def test_every_step_of_a_profile_has_its_own_id(name: str) -> None:
    """Ids name histogram and timeline files: two steps with one id would overwrite them."""
    ids = [step.id for step in profile.load(name).steps()]
    assert len(ids) == len(set(ids))
