"""Benchmark profiles: TOML files that say which scenarios to run, with what load.

A scenario lists values per parameter; its steps are every combination, repeated `repeat`
times (the profile's, or the scenario's own). Unknown keys are refused, so a typo cannot
silently run the default.
"""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from core import ConfigError
from peers import PEERS
from record import NCHAN_PEERS, TRANSPORTS
from record.thresholds import Threshold
from record.thresholds import parse as parse_threshold
from scenarios.kinds import KINDS
from scenarios.step import Step, server_settings

BINARY_PEER = "bare-ws"
"""The peer that broadcasts binary events (as binary frames, like ours)."""


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    transports: tuple[str, ...]
    scenarios: tuple[tuple[str, dict[str, list[Any]], int, tuple[str, ...] | None], ...]
    """(kind, parameter values, repeats, transports or None for all) per [[scenario]]."""
    repeat: int = 1
    drain_seconds: float = 5.0
    raw: dict[str, Any] = field(default_factory=dict)
    peers: tuple[str, ...] = ()
    """Reference peers (`peers.PEERS`) that run the scenarios they can next to ours."""
    thresholds: tuple[Threshold, ...] = ()
    """`[thresholds] fail_if = ["p99_ms>50", …]`: the run fails when a step crosses one."""

    def steps(self, transport: str | None = None) -> list[Step]:
        """Every step, transports interleaved within each repeat (A B C, A B C, …): a drift
        of the machine during the run then hits every transport alike."""
        made: list[tuple[Step, int]] = []
        for block, (kind, values, repeat, only) in enumerate(self.scenarios, 1):
            names = list(values)
            for combo in itertools.product(*(values[n] for n in names)):
                params = dict(zip(names, combo, strict=True))
                runs_here = [
                    t
                    for t in self.transports + self.peers
                    if (transport is None or t == transport)
                    and (not only or t in only)
                    and (t not in self.peers or peer_can_run(kind, params, t))
                ]
                for r in range(1, repeat + 1):
                    made.extend((Step(kind, t, params, r), block) for t in runs_here)
        steps: list[Step] = []
        seen: set[str] = set()
        for step, block in made:
            if step.id in seen:  # a later block measuring the same load again
                step = dataclasses.replace(step, block=block)
            seen.add(step.id)
            steps.append(step)
        return steps


def peer_can_run(kind: str, params: dict[str, Any], peer: str) -> bool:
    """Peers run the kinds that say so (`Kind.peers`), plain: no TLS, compression or churn
    knobs; binary events only on the bare websockets peer (its binary frames are ours); Nchan
    the broadcast alone."""
    if server_settings(params):
        return False
    if params.get("binary") and peer != BINARY_PEER:
        return False
    if peer in NCHAN_PEERS and kind != "broadcast":
        return False  # Nchan has no /status to count the connections it holds
    client_knobs = ("compression", "browser_headers")
    return KINDS[kind].peers and not any(params.get(knob) for knob in client_knobs)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


PROFILE_KEYS = ("name", "description", "transports", "peers", "repeat", "drain_seconds",
                "scenario", "thresholds")  # fmt: skip
"""A profile's top-level keys; docs/profile.toml shows each."""
SCENARIO_KEYS = ("kind", "transports", "repeat")
"""What a [[scenario]] block holds besides its kind's parameters."""


def parse(raw: dict[str, Any], name: str) -> Profile:
    unknown = sorted(set(raw) - set(PROFILE_KEYS))
    if unknown:
        raise ConfigError(f"expected profile keys among {sorted(PROFILE_KEYS)}, got {unknown}")
    transports = tuple(raw.get("transports", TRANSPORTS))
    bad = [t for t in transports if t not in TRANSPORTS]
    if bad:
        raise ConfigError(f"expected transports among {TRANSPORTS}, got {bad}")
    peers = tuple(raw.get("peers", ()))
    bad = [t for t in peers if t not in PEERS]
    if bad:
        raise ConfigError(f"expected peers among {PEERS}, got {bad}")
    scenarios = []
    for entry in raw.get("scenario", []):
        entry = dict(entry)
        kind = entry.pop("kind", None)
        repeat = int(entry.pop("repeat", raw.get("repeat", 1)))
        only = entry.pop("transports", None)
        if only is not None:
            bad = [t for t in only if t not in transports + peers]
            if bad:
                raise ConfigError(
                    f"expected {kind} transports among {transports + peers}, got {bad}"
                )
            only = tuple(only)
        if kind not in KINDS:
            raise ConfigError(f"expected scenario kind among {sorted(KINDS)}, got {kind!r}")
        defaults = KINDS[kind].parameters
        unknown = sorted(set(entry) - set(defaults))
        if unknown:
            raise ConfigError(f"expected {kind} keys among {sorted(defaults)}, got {unknown}")
        values = {k: _as_list(entry.get(k, v)) for k, v in defaults.items()}
        check = KINDS[kind].check
        if check is not None:
            try:
                check(values)
            except ValueError as exc:
                raise ConfigError(f"{kind}: {exc}") from None
        scenarios.append((kind, values, repeat, only))
    if not scenarios:
        raise ConfigError(f"expected at least one [[scenario]] in profile {name!r}")
    thresholds = parse_thresholds(raw.get("thresholds", {}))
    return Profile(
        name=str(raw.get("name", name)),
        description=str(raw.get("description", "")),
        transports=transports,
        scenarios=tuple(scenarios),
        repeat=int(raw.get("repeat", 1)),
        drain_seconds=float(raw.get("drain_seconds", 5.0)),
        raw=raw,
        peers=peers,
        thresholds=thresholds,
    )


def parse_thresholds(table: Any) -> tuple[Threshold, ...]:
    """A profile's `[thresholds]` table: `fail_if`, a list of thresholds like `p99_ms>50`."""
    if not isinstance(table, dict) or set(table) - {"fail_if"}:
        raise ConfigError(f"expected [thresholds] with only fail_if = [...], got {table!r}")
    texts = table.get("fail_if", [])
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise ConfigError(f"expected thresholds.fail_if as a list of strings, got {texts!r}")
    try:
        return tuple(parse_threshold(text) for text in texts)
    except ValueError as exc:
        raise ConfigError(f"thresholds: {exc}") from None


def builtin_profiles() -> list[str]:
    folder = resources.files("scenarios") / "profiles"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load(name_or_path: str) -> Profile:
    """A profile by built-in name (`quick`, `full`, …) or by path to a TOML file."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.is_file():
        if not path.exists():
            raise ConfigError(f"expected a profile file at {path}, got nothing there")
        text = path.read_text()
        name = path.stem
    else:
        resource = resources.files("scenarios") / "profiles" / f"{name_or_path}.toml"
        if not resource.is_file():
            raise ConfigError(
                f"expected a profile among {', '.join(builtin_profiles())} or a .toml path, "
                f"got {name_or_path!r}"
            )
        text = resource.read_text()
        name = name_or_path
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"expected valid TOML in profile {name!r}, got {exc}") from exc
    return parse(raw, name)
