"""docs/multi-host.md's recipe, run as written on two hosts in network namespaces: on host A the
server, started apart, and the run; on host B only sshd and this checkout. The run reaches B by
ssh (`--load-host`) and drives the server from there, as on two real machines."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from network.hosts import Ssh, load_host
from network.topology import Host, Topology
from tests.support import ServerApart

ROOT = Path(__file__).resolve().parent.parent


def keys(folder: Path) -> tuple[Path, Path, Path]:
    """A client key, its authorized_keys file and a host key, all fresh."""
    client, host = folder / "client", folder / "host"
    for key in (client, host):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True, timeout=30)  # fmt: skip
    authorized = folder / "authorized_keys"
    authorized.write_text(Path(f"{client}.pub").read_text())
    return client, authorized, host


@pytest.fixture
def sshd_on_b(tmp_path: Path) -> Iterator[tuple[Topology, Path]]:
    """Hosts a and b; on b an sshd that lets in the test's key; an ssh_config for it."""
    client, authorized, host_key = keys(tmp_path)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    with Topology(["a", "b"]) as net:
        b = net.host("b")
        log = (tmp_path / "sshd.log").open("w")
        sshd = subprocess.Popen(
            b.command(["/usr/sbin/sshd", "-D", "-e", "-f", "/dev/null",
                       "-o", f"ListenAddress={b.address}", "-o", f"HostKey={host_key}",
                       "-o", f"AuthorizedKeysFile={authorized}", "-o", "StrictModes=no",
                       "-o", "PermitRootLogin=prohibit-password", "-o", "UsePAM=no",
                       "-o", "PidFile=none", "-o", "LogLevel=VERBOSE"]),
            stderr=log,
        )  # fmt: skip
        config = tmp_path / "ssh_config"
        config.write_text(
            f"Host {b.address}\n  IdentityFile {client}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {tmp_path / 'known_hosts'}\n"
            "  StrictHostKeyChecking accept-new\n  ConnectTimeout 10\n"
        )
        try:
            yield net, config
        finally:
            sshd.terminate()
            sshd.wait(10)
            log.close()


def in_host(host: Host, argv: list[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(host.command(argv), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def test_the_recipe_drives_a_server_on_host_a_from_a_load_host_reached_by_ssh(
    sshd_on_b: tuple[Topology, Path], tmp_path: Path
) -> None:
    net, config = sshd_on_b
    a, b = net.host("a"), net.host("b")
    server = ServerApart(a.command([sys.executable, "-m", "servers", "all", "--host", a.address,
                                    "--port", "0", "--log-format", "json",
                                    "--config", "examples/load-hosts.toml"]),
                         tmp_path / "server.log")  # fmt: skip
    try:
        done = in_host(a, [sys.executable, "-m", "scenarios.run", "--target", server.url,
                           "--target-pid", str(server.proc.pid),
                           "--load-host", f"ssh://root@{b.address}{ROOT}?config={config}",
                           "--repeats", "1", "--subscribers", "20", "--rate", "20",
                           "--duration", "1", "--fail-if", "lost>0",
                           "--out", str(tmp_path), "--run-id", "run"])  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    where = f"ssh://root@{b.address}{ROOT}"
    assert results["settings"]["target"]["load_hosts"] == [where]
    for step in results["steps"]:
        assert step["status"] == "ok", step.get("error")
        assert step["lost"] == 0 and step["delivered"] == step["expected"] > 0
        # The drivers ran on B: their clock was compared with A's, and their CPU is not ours
        # to sample (A's load core holds the publisher only).
        assert len(step["clock_offsets_us"]) == 1 and step["latency_uncertainty_us"] >= 0
        assert step["driver_cpu_us_per_message"] is None
        assert step["server_cpu_us_per_message"] is not None
    accepted = (tmp_path / "sshd.log").read_text()
    assert "Accepted publickey for root" in accepted


def test_a_load_host_is_an_ssh_url_and_its_command_runs_this_checkout_there() -> None:
    host = load_host("ssh://bench@10.0.0.9:2222/srv/rtbench?config=/etc/rtb_ssh")
    assert host == Ssh("bench@10.0.0.9", "/srv/rtbench", 2222, "/etc/rtb_ssh")
    argv = host.command([sys.executable, "-m", "scenarios.load.driver", "--x",
                         str(ROOT / "scenarios" / "load" / "driver.py")], {"K": "a b"})  # fmt: skip
    assert argv[:2] == ["ssh", "-T"] and argv[-2] == "bench@10.0.0.9"
    assert argv[-1] == (
        "cd /srv/rtbench && exec env 'K=a b' /srv/rtbench/.venv/bin/python -m "
        "scenarios.load.driver --x /srv/rtbench/scenarios/load/driver.py"
    )
    for bad, says in [
        ("http://h/x", "expected a load host like ssh://user@host/path/to/rtbench"),
        ("ssh://h", "expected a load host like"),
        ("ssh://h/x?identity=k", "expected only ?config=FILE"),
    ]:
        with pytest.raises(ValueError, match=says.replace("?", r"\?")):
            load_host(bad)


def test_the_recipes_server_config_lifts_the_caps_as_the_bench_does() -> None:
    import tomllib

    from scenarios.fixtures import BENCH_LIMITS

    example = tomllib.loads((ROOT / "examples" / "load-hosts.toml").read_text())
    assert example == tomllib.loads(BENCH_LIMITS)
