"""What a link between a host and the rest of the network does to packets: its rate, its loss
and its delay, by name.

Where the numbers come from:

- rates and round-trip times, where a public preset has them, are WebPageTest's connectivity
  presets (`www/settings/connectivity.ini`): "Mobile 3G - Fast" is 1.6 Mbit/s down, 768 kbit/s
  up, 150 ms RTT, the same figures as Lighthouse's mobile throttling;
- no public preset carries packet loss (WebPageTest's and Lighthouse's all say `plr=0`): the
  losses here are stress levels of this project's choosing, rising with the link's poorness,
  not measurements of real networks. They are per packet, in each direction.

The kernel here has no netem, so a link is built from what it has: `tbf` for the rate (on both
ends of the host's veth, one per direction), iptables' `statistic` match for the loss (in the
host's namespace, on its input and on its output), and the user-space delay proxy
(`scenarios.load.delayproxy`) on a router host for the delay. The proxy ends TCP: the delay
sits between two TCP connections, not inside one, so a lost segment is recovered at the
lossy hop's own round-trip time (Linux waits at least 200 ms for a timeout, whatever the RTT).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LinkProfile:
    name: str
    down_kbit: int | None
    """Towards the host, kbit/s; None: as fast as the veth goes."""
    up_kbit: int | None
    """From the host, kbit/s."""
    loss: float
    """Probability that a packet is dropped, in each direction on its own."""
    rtt_ms: float
    """Added round-trip time, half each way, by the delay proxy on the router host."""
    source: str

    @property
    def shaped(self) -> bool:
        return self.down_kbit is not None or self.up_kbit is not None

    @property
    def one_way_delay_ms(self) -> float:
        return self.rtt_ms / 2

    def describe(self) -> str:
        rate = "unshaped"
        if self.shaped:
            rate = f"{kbit(self.down_kbit)} down / {kbit(self.up_kbit)} up"
        return f"{self.name}: {rate}, {self.loss:.1%} loss each way, +{self.rtt_ms:g} ms RTT"


def kbit(rate: int | None) -> str:
    if rate is None:
        return "unshaped"
    return f"{rate / 1000:g} Mbit/s" if rate >= 1000 else f"{rate} kbit/s"


LINKS: dict[str, LinkProfile] = {
    profile.name: profile
    for profile in (
        LinkProfile("lan", None, None, 0.0, 0.0, "no shaping: the veth and bridge as they are"),
        LinkProfile(
            "wifi", 30_000, 15_000, 0.005, 5.0,
            "a good Wi-Fi link: 5 ms RTT; 0.5 % loss is this project's stress level",
        ),
        LinkProfile(
            "4g", 20_000, 20_000, 0.01, 50.0,
            "a 4G link: 20 Mbit/s, 50 ms RTT; 1 % loss is this project's stress level",
        ),
        LinkProfile(
            "3g", 1_600, 768, 0.02, 150.0,
            "WebPageTest's 'Mobile 3G - Fast' (1.6 Mbit/s / 768 kbit/s, 150 ms RTT); 2 % loss "
            "is this project's stress level",
        ),
    )
}  # fmt: skip


def link(name: str) -> LinkProfile:
    try:
        return LINKS[name]
    except KeyError:
        raise ValueError(f"expected a link profile ({', '.join(LINKS)}), got {name!r}") from None
