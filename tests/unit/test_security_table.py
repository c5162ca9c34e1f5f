"""The Security table of docs/security.md is made from the sidecar suite's results
(tests/security_table.py): how results become cells, and, without an engine,
that the page's table has the rows the maker knows and that every test a row
names exists (a renamed test would otherwise leave a row `**not run**` until CI)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests import security_table as st

ROOT = Path(__file__).parents[2]

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.sidecar.test_redteam" name="test_icmp[runc]" time="1"/>
<testcase classname="tests.sidecar.test_redteam" name="test_icmp[runsc]" time="1"/>
<testcase classname="tests.sidecar.test_redteam" name="test_no_ipv6[runc]" time="1">
  <failure message="assert 1 == 2">...</failure></testcase>
<testcase classname="tests.sidecar.test_redteam" name="test_no_ipv6[runsc]" time="1"/>
<testcase classname="tests.sidecar.test_redteam" name="test_a_memory_balloon_is_contained" time="1"/>
<testcase classname="tests.sidecar.test_redteam" name="test_look_alike_names_are_refused[EVIL.TEST.]"/>
<testcase classname="tests.sidecar.test_redteam" name="test_the_proxy_admin_interface[runc]" time="1">
  <skipped message="no">...</skipped></testcase>
</testsuite></testsuites>
"""


@pytest.fixture
def cases(tmp_path: Path) -> list[st.Case]:
    (tmp_path / "r.xml").write_text(JUNIT)
    return st.read_results(tmp_path / "r.xml")


def row(attack: str) -> st.Row:
    (found,) = (r for r in st.ROWS if r.attack.startswith(attack))
    return found


def test_results_are_read_with_their_runtime_and_outcome(cases: list[st.Case]) -> None:
    assert [(c.function, c.runtime, c.outcome) for c in cases] == [
        ("test_icmp", "runc", "passed"),
        ("test_icmp", "runsc", "passed"),
        ("test_no_ipv6", "runc", "failed"),
        ("test_no_ipv6", "runsc", "passed"),
        ("test_a_memory_balloon_is_contained", "runc", "passed"),
        ("test_look_alike_names_are_refused", "runc", "passed"),  # its parameter is a host, not a runtime
        ("test_the_proxy_admin_interface", "runc", "skipped"),
    ]


def test_cells_say_what_the_run_showed(cases: list[st.Case]) -> None:
    assert st.cell(row("ICMP"), "squid", "runc", cases) == "held"
    assert (
        st.cell(row("ICMP"), "squid", "runsc", cases) == "held (no ICMP sockets)"
    )  # what the case asserts there
    assert st.cell(row("IPv6"), "squid", "runc", cases) == "**FAILED**"
    assert st.cell(row("IPv6"), "squid", "runsc", cases) == "held"
    assert st.cell(row("a memory balloon"), "squid", "runsc", cases) == "known limit (see below)"
    assert st.cell(row("look-alike"), "pipelock", "runsc", cases) == "runc only"
    assert st.cell(row("the proxy's admin"), "squid", "runc", cases) == "skipped"
    assert st.cell(row("direct IP"), "squid", "runc", cases) == "**not run**"
    assert st.cell(row("a refused name is never resolved"), "pipelock", "runc", cases) == "—"


def test_check_compares_only_the_proxies_that_ran(cases: list[st.Case]) -> None:
    made = st.render({"squid": cases})
    written = [list(r) for r in made]
    assert st.differences(written, made, ["squid"]) == []
    written[0][3] = "held"  # a Pipelock cell: not compared without Pipelock's results
    assert st.differences(written, made, ["squid"]) == []
    written[0][1] = "held"  # a Squid cell the run does not back
    assert st.differences(written, made, ["squid"]) == [
        "direct IP with the proxy ignored or unset / squid, runc: "
        "the page says 'held', the run says '**not run**'"
    ]


def test_the_security_page_has_the_rows_the_table_maker_knows() -> None:
    written = st.table_in((ROOT / st.PAGE).read_text())
    assert [cells[0] for cells in written] == [r.attack for r in st.ROWS]
    assert all(len(cells) == len(st.HEADER) for cells in written)


def test_every_test_a_row_names_exists() -> None:
    defined = {
        (path.stem, node.name)
        for path in (ROOT / "tests" / "sidecar").glob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef)
    }
    named = {tuple(t.split("::")) for r in st.ROWS for p in st.PROXIES for t in r.tests_for(p)}
    assert named - defined == set()
