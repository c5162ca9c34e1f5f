"""The Security table of docs/security.md, made from the sidecar suite's results, never by hand.

scripts/test.sh runs the sidecar suite once per proxy (Squid, and Pipelock where
its image can be built), each run writing pytest's JUnit XML (`sidecar-squid.xml`,
`sidecar-pipelock.xml`) to one folder. Each row of the table below names the
tests that attack its case, per proxy; each cell is what the last run of those
tests under that proxy and runtime showed:

    python3 -m tests.security_table --results DIR --check docs/security.md   # CI: the page says what ran
    python3 -m tests.security_table --results DIR --write docs/security.md   # after a run: the page updated

`--check` compares the columns of every proxy that has a results file (a clone
without Pipelock's build checks Squid's alone) and fails, showing the table it
expected, when the page's differs. A new case gets its row here, not in the
page."""

from __future__ import annotations

import argparse
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PROXIES = ("squid", "pipelock")
RUNTIMES = ("runc", "runsc")
COLUMNS = tuple((proxy, runtime) for proxy in PROXIES for runtime in RUNTIMES)
HEADER = ("attack", "Squid, runc", "Squid, runsc", "Pipelock, runc", "Pipelock, runsc")
BEGIN = "<!-- security-table: made by `python3 -m tests.security_table` from the sidecar suite's results -->"
END = "<!-- /security-table -->"
PAGE = "docs/security.md"  # where the table lives, between BEGIN and END

HELD, FAILED, NOT_RUN, SKIPPED, NO_CASE = "held", "**FAILED**", "**not run**", "skipped", "—"
RUNC_ONLY = "runc only"

RT = "test_redteam"
EGRESS = "test_egress"
CREDS = "test_credentials"


@dataclass(frozen=True)
class Row:
    """One case: its words, its tests (module::function, any parameters) for both
    proxies or per proxy, and what a passing run means where it is not "held"
    (a stated limit the tests assert), keyed by proxy, runtime or (proxy, runtime)."""

    attack: str
    tests: tuple[str, ...] | Mapping[str, tuple[str, ...]]
    passed: Mapping[str | tuple[str, str], str] = field(default_factory=dict)
    absent: Mapping[str, str] = field(default_factory=dict)  # runtime -> why it is not run there

    def tests_for(self, proxy: str) -> tuple[str, ...]:
        return self.tests if isinstance(self.tests, tuple) else tuple(self.tests.get(proxy, ()))

    def meaning(self, proxy: str, runtime: str) -> str:
        for key in ((proxy, runtime), proxy, runtime):
            if key in self.passed:
                return self.passed[key]
        return HELD


GVISOR_LIMIT = {"runsc": "known limit (see below)"}
ROWS: tuple[Row, ...] = (
    Row("direct IP with the proxy ignored or unset", (f"{RT}::test_direct_ip_with_the_proxy_ignored",)),
    Row(
        "direct TCP and UDP to lab addresses (raw listeners log every byte)",
        (f"{RT}::test_direct_tcp_and_udp",),
    ),
    Row(
        "ICMP (an unprivileged ICMP socket, so the network is tested, not privilege)",
        (f"{RT}::test_icmp",),
        passed={"runsc": "held (no ICMP sockets)"},
    ),
    Row(
        "capabilities (`CapEff`, `CapPrm`, `CapBnd` 0; adding a route fails)",
        (f"{RT}::test_privileges_are_gone_for_every_process",),
    ),
    Row(
        "`NoNewPrivs` 1, `Seccomp` 2",
        (f"{RT}::test_privileges_are_gone_for_every_process",),
        passed={"runsc": "not reported (see below)"},
    ),
    Row(
        "DNS to a lab DNS server by address (the server logs every query)",
        (f"{RT}::test_dns_to_a_lab_server_by_address",),
    ),
    Row("IPv6", (f"{RT}::test_no_ipv6",)),
    Row(
        "Docker socket; a listener on this host through the gateway of the bottle's network and of its "
        "sidecar's egress network (read from the engine, with a positive control from a plain container)",
        (f"{RT}::test_no_docker_socket_and_no_way_to_the_host",),
    ),
    Row(
        "from the sidecar's own namespace (what a proxy exploit gets; `test_floor`): this host, a private "
        "lab listener no manifest names, the metadata address, DNS to a lab server, an internal host on a "
        "port not for egress, the proxy's port from the egress side",
        ("test_floor::test_the_sidecars_own_way_out_is_walled_below_the_proxy",),
    ),
    Row(
        "metadata address 169.254.169.254, directly and through the proxy",
        (f"{RT}::test_metadata_address_directly_and_through_the_proxy",),
    ),
    Row(
        "an `egress.internal` name that resolves to the metadata address; with Squid, to an address of "
        "each never-reached range (every cloud metadata address), and an allowed name to each never-reached "
        "or private range (`test_squid_rules`, `test_pipelock`)",
        {
            "squid": (
                "test_squid_rules::test_an_internal_name_never_reaches_the_metadata_address",
                "test_squid_rules::test_every_range_is_refused_to_allowed_names_and_the_never_list_to_internal_ones",
            ),
            "pipelock": ("test_pipelock::test_an_internal_name_never_reaches_the_metadata_address",),
        },
        passed={"pipelock": "held (the floor)"},
    ),
    Row(
        "loopback and private addresses through the proxy (decimal, hex, IPv4-mapped IPv6, `localhost`, "
        "`[::1]`, an allowed name with a private address)",
        (f"{RT}::test_loopback_and_private_addresses_through_the_proxy",),
    ),
    Row(
        "`CONNECT` to odd ports of an allowed host, plain HTTP to odd ports "
        "(`port_not_allowed` in the summary)",
        (
            f"{RT}::test_ports_other_than_443_80_and_ssh",
            f"{EGRESS}::test_every_kind_of_refusal_is_in_the_summary_with_its_reason",
        ),
        passed={"pipelock": "held (the floor; the agent gets a 502)"},
    ),
    Row(
        "`CONNECT allowed-host:80` (plain HTTP hidden in a tunnel, past the proxy's DLP)",
        (f"{RT}::test_ports_other_than_443_80_and_ssh",),
        passed={"pipelock": "**not held**"},
    ),
    Row(
        "a refused name is never resolved (the lab DNS sees the control's lookup only; `test_squid_rules`)",
        {"squid": ("test_squid_rules::test_a_refused_name_is_never_looked_up",)},
    ),
    Row(
        "an IP literal whose reverse name exists",
        (f"{RT}::test_an_address_whose_reverse_name_is_allowed_is_refused",),
    ),
    Row(
        "TLS whose SNI differs from the `CONNECT` host (domain fronting), from a manifest that says "
        "nothing of SNI",
        (f"{RT}::test_tls_whose_sni_differs_from_the_connect_host",),
    ),
    Row(
        "look-alike names (`evilallowed.test`, `allowed.test.evil.test`, `EVIL.TEST.`, "
        "`allowed.test@blocked.test`)",
        (f"{RT}::test_look_alike_names_are_refused",),
    ),
    Row(
        "a redirect from an allowed host to a blocked one",
        (f"{RT}::test_a_redirect_from_an_allowed_host_to_a_blocked_one",),
    ),
    Row(
        "a secret-shaped token in the URL or `Authorization` header of a plain-HTTP request "
        "to an allowed host; with Squid, every secret shape in the URL and in every credential header",
        {
            "squid": (
                f"{RT}::test_a_secret_shaped_canary_in_plain_http_is_refused",
                "test_squid_rules::test_every_secret_shape_in_a_url_or_a_credential_header_is_refused",
            ),
            "pipelock": (f"{RT}::test_a_secret_shaped_canary_in_plain_http_is_refused",),
        },
    ),
    Row(
        "a plain-HTTP request body over 5 MiB (Pipelock reads bodies; Squid reads none)",
        {"pipelock": ("test_pipelock::test_a_plain_http_body_over_five_mib_is_refused",)},
        passed={"pipelock": "refused (cannot scan it; HTTPS passes)"},
    ),
    Row(
        "a tunnel whose client sends nothing for 5 s (Pipelock waits that long for a TLS server name)",
        {"pipelock": ("test_pipelock::test_a_tunnel_whose_client_says_nothing_for_five_seconds_is_closed",)},
        passed={"pipelock": "closed (`sni_unverified`)"},
    ),
    Row(
        "Claude Code's own requests to a plain-HTTP model endpoint with a key-shaped credential",
        {
            "squid": (f"{EGRESS}::test_the_real_claude_code_cli_through_a_plain_http_model_endpoint",),
            "pipelock": (
                f"{EGRESS}::test_the_real_claude_code_cli_through_a_plain_http_model_endpoint",
                "test_pipelock::test_a_plain_http_model_endpoint_answers_with_dlp_warn",
            ),
        },
        passed={"squid": "answered", "pipelock": 'refused by the plan; answered with `egress.dlp: "warn"`'},
    ),
    Row(
        "reaching a second bottle's containers (its agent serving a port, its sidecar), directly or through "
        "the proxy, with a control from that bottle's own network",
        (f"{RT}::test_a_second_bottle_cannot_be_reached",),
    ),
    Row(
        "the proxy's admin interface (Squid's cache manager; Pipelock's metrics, stats, kill switch)",
        (f"{RT}::test_the_proxy_admin_interface",),
    ),
    Row(
        "approving a host from inside the bottle (the engine, the proxy's interface, its process, "
        "its configuration, the session's record); the same approval from outside goes through",
        (f"{RT}::test_the_agent_cannot_reach_the_approval_path",),
    ),
    Row(
        "a fork bomb (PID limit)",
        (f"{RT}::test_a_fork_bomb_is_contained_by_the_pid_limit",),
        absent=GVISOR_LIMIT,
    ),
    Row(
        "a memory balloon (memory limit)", (f"{RT}::test_a_memory_balloon_is_contained",), absent=GVISOR_LIMIT
    ),
    Row(
        "the secret canary on the host after a session (process list, plan, logs, files), "
        "shown inside by its hash",
        (f"{EGRESS}::test_secret_canary_never_leaks_on_the_host",),
    ),
    Row(
        "`ssh` to a host outside the allowlist",
        (f"{EGRESS}::test_ssh_to_a_host_outside_the_allowlist_fails",),
    ),
    Row(
        "the session's model key, git token and ssh key searched for inside the bottle (every process's "
        "environment and command line, the whole file system, git's configuration, `~/.ssh`) while the "
        "lab receives the real ones",
        (f"{CREDS}::test_nothing_inside_holds_a_secret_while_the_lab_receives_each",),
        passed={"pipelock": "inside (Pipelock adds no credential; the plan says so)"},
    ),
    Row(
        "an attacker's key to the model host through the proxy (`CONNECT` and plain HTTP), with the "
        "sidecar's own port as the control",
        (f"{CREDS}::test_an_attacker_key_to_the_model_host_through_the_proxy_is_refused_and_reported",),
        passed={"pipelock": "not held (the key is inside; the plan says so)"},
    ),
)


@dataclass(frozen=True)
class Case:
    module: str  # test_redteam
    function: str  # test_icmp
    runtime: str
    outcome: str  # passed, failed, skipped


def read_results(path: Path) -> list[Case]:
    """A JUnit XML file of pytest's as cases. A case's runtime is runsc when its
    parameters name it (the red team's `[runsc]`), else runc (every other case
    runs its bottle under runc)."""
    cases = []
    for testcase in ET.parse(path).getroot().iter("testcase"):
        name = testcase.get("name", "")
        function, _, params = name.partition("[")
        module = testcase.get("classname", "").rpartition(".")[2]
        kinds = {child.tag for child in testcase}
        outcome = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
        runtime = "runsc" if re.search(r"(^|[-\]])runsc([-\]]|$)", params) else "runc"
        cases.append(Case(module, function, runtime, outcome))
    return cases


def cell(row: Row, proxy: str, runtime: str, cases: Sequence[Case]) -> str:
    tests = row.tests_for(proxy)
    if not tests:
        return NO_CASE
    wanted = {tuple(test.split("::")) for test in tests}
    mine = [c for c in cases if (c.module, c.function) in wanted]
    found = {(c.module, c.function) for c in mine}
    if found != wanted:  # a test the row names did not run at all (renamed, deselected)
        return NOT_RUN
    here = [c.outcome for c in mine if c.runtime == runtime]
    if not here:
        return row.absent.get(runtime, RUNC_ONLY if runtime == "runsc" else NOT_RUN)
    if "failed" in here:
        return FAILED
    if all(outcome == "skipped" for outcome in here):
        return SKIPPED
    return row.meaning(proxy, runtime)


def render(results: Mapping[str, Sequence[Case]]) -> list[list[str]]:
    """The table's rows of cells (the attack first); a proxy without results gets
    empty cells, which `--check` does not compare."""
    return [
        [row.attack] + [cell(row, p, r, results[p]) if p in results else "" for p, r in COLUMNS]
        for row in ROWS
    ]


def markdown(rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"


def _block(text: str) -> tuple[int, int]:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"no table between {BEGIN!r} and {END!r}")
    return start + len(BEGIN) + 1, end


def table_in(text: str) -> list[list[str]]:
    start, end = _block(text)
    lines = [line for line in text[start:end].splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def differences(
    written: Sequence[Sequence[str]], made: Sequence[Sequence[str]], proxies: Sequence[str]
) -> list[str]:
    """Where the written table differs from the one the results make, in the
    columns of `proxies` (and the attacks, row by row)."""
    if [r[0] for r in written] != [r[0] for r in made]:
        return ["the rows differ: " + repr([r[0] for r in written]) + " != " + repr([r[0] for r in made])]
    out = []
    for old, new in zip(written, made, strict=True):
        for i, (proxy, runtime) in enumerate(COLUMNS, start=1):
            if proxy in proxies and (i >= len(old) or old[i] != new[i]):
                says = old[i] if i < len(old) else "?"
                out.append(f"{new[0]} / {proxy}, {runtime}: the page says {says!r}, the run says {new[i]!r}")
    return out


def load(folder: Path) -> dict[str, list[Case]]:
    return {
        p: read_results(folder / f"sidecar-{p}.xml")
        for p in PROXIES
        if (folder / f"sidecar-{p}.xml").exists()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m tests.security_table", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--results", type=Path, required=True, help="folder of sidecar-<proxy>.xml files")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--check", type=Path, metavar="PAGE", help=f"fail unless PAGE's table matches (CI: {PAGE})"
    )
    action.add_argument("--write", type=Path, metavar="PAGE", help=f"write the table into PAGE ({PAGE})")
    args = parser.parse_args(argv)
    results = load(args.results)
    if not results:
        print(f"security table: no sidecar results in {args.results}", file=sys.stderr)
        return 1
    made = render(results)
    if args.write:
        if set(results) != set(PROXIES):
            print(
                f"security table: --write needs every proxy's results; have {sorted(results)}",
                file=sys.stderr,
            )
            return 1
        text = args.write.read_text()
        start, end = _block(text)
        args.write.write_text(text[:start] + markdown(made) + text[end:])
        return 0
    problems = differences(table_in(args.check.read_text()), made, sorted(results))
    for problem in problems:
        print(f"security table: {problem}", file=sys.stderr)
    if problems:
        print("the table these results make (python3 -m tests.security_table --write):", file=sys.stderr)
        print(markdown(made), file=sys.stderr)
        return 1
    print(f"security table: {args.check} matches the run ({', '.join(sorted(results))})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
