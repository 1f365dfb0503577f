"""The report's sections, one module per subject, each a function of the run that gives its
section or None when the run has nothing for it. `SECTIONS` is their order in the report,
after the run's headline and Question 1; adding a section is one function and one line here."""

from __future__ import annotations

from collections.abc import Callable

from record import RecordedRun
from report.model import Section
from report.sections import (
    browser,
    cluster,
    cost,
    declared,
    distance,
    network,
    peers,
    proxy,
    security,
    wire,
)

SectionOf = Callable[[RecordedRun], Section | None]

SECTIONS: tuple[SectionOf, ...] = (
    wire.wire_section,
    wire.http2_section,
    wire.binary_section,
    distance.delay_section,
    distance.storm_section,
    distance.soak_section,
    network.network_section,
    cost.floor_section,
    cost.fanout_section,
    cost.breakdown_section,
    cost.sweep_section,
    browser.browser_section,
    proxy.proxy_section,
    peers.peers_section,
    security.security_section,
    cluster.cluster_section,
    declared.declared_section,
)
