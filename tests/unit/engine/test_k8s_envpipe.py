"""A warm pool's claim hands the agent's variables to the session's command on
its exec's stdin (engine/k8s/envpipe.py): the wrapper run by this machine's own
shells, with and without a terminal, every value coming back byte for byte,
none in the argv, none echoed, and the user's input after them untouched."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator

import pexpect
import pytest

from claude_bottle.engine.k8s import envpipe
from claude_bottle.engine.k8s.streams import STDIN, STDOUT
from claude_bottle.errors import UsageError

VALUES = {
    "PLAIN": "sk-ant-api03-abc_DEF-123",
    "LINES": "one\ntwo\r\nthree\n",  # a line break inside and at the end
    "QUOTES": 'it\'s "quoted" $HOME `id` $(id) \\n \\0101 %s %b',
    "UNICODE": "clé ✓ 日本",
    "EMPTY": "",
    "SPACES": "  both ends  ",
    "EQUALS": "a=b==c",
}
SHOW = (
    "import json, os, sys; print(json.dumps({k: os.environ.get(k) for k in sys.argv[1:]})); "
    "print(sys.stdin.read())"
)


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_every_value_comes_back_and_the_input_after_them_is_the_commands(shell: str) -> None:
    argv = envpipe.wrapped([sys.executable, "-c", SHOW, *VALUES])
    argv[0] = shell
    assert not any(v in a for v in VALUES.values() if v for a in argv)  # no value in the argv
    stdin = envpipe.env_lines(VALUES) + b"the user's own input\n"
    done = subprocess.run(argv, input=stdin, capture_output=True, check=True, timeout=30)
    assert done.stdout.startswith(envpipe.READY)
    shown, rest = done.stdout[len(envpipe.READY) :].decode().split("\n", 1)
    assert json.loads(shown) == VALUES
    assert rest == "the user's own input\n\n"


def test_a_line_is_printable_ascii_whatever_the_value() -> None:
    lines = envpipe.env_lines(VALUES).decode("ascii").split("\n")
    assert lines[-2:] == ["", ""]  # the empty line that ends them
    assert all(line.isprintable() for line in lines)
    assert envpipe.escaped("a\n1") == "a\\00121"  # three digits: the next digit is the value's own


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"A-B": "v"}, "not a variable name: 'A-B'", id="name"),
        pytest.param(
            {"A": "v\0w"}, "the value of A holds a NUL byte, which no environment can carry", id="nul"
        ),
    ],
)
def test_what_no_environment_carries_is_refused(values: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        envpipe.env_lines(values)
    assert str(caught.value) == message


def test_under_a_terminal_the_values_are_not_echoed_and_the_terminal_is_given_back() -> None:
    secret = "tty-canary-9f8e7d"
    script = (
        'printf "len=%s\\n" "${#V}"; stty -a | grep -o -- "-\\?echo " | head -1; '
        'read -r typed; echo "got=$typed"'
    )
    argv = envpipe.wrapped(["sh", "-c", script])
    child = pexpect.spawn(argv[0], argv[1:], timeout=20)
    child.logfile_read = seen = io.BytesIO()  # all it showed
    try:
        child.expect_exact(envpipe.READY)
        child.send(envpipe.env_lines({"V": secret}))
        child.expect(r"len=(\d+)")
        assert int(child.match.group(1)) == len(secret)
        child.expect(r"(-?echo) ")
        assert child.match.group(1) == b"echo"  # its echo is on again for the command
        child.sendline("typed-by-the-user")
        child.expect_exact("got=typed-by-the-user")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    # Control: what the user typed after the hand-over is echoed as usual; the value never was.
    assert seen.getvalue().count(b"typed-by-the-user") == 2
    assert secret.encode() not in seen.getvalue()


class Frames:
    """An exec's channels as the API server sends them (engine/k8s/streams.py)."""

    def __init__(self, frames: list[tuple[int, bytes]]) -> None:
        self._frames = frames
        self.sent: list[tuple[int, bytes]] = []

    def frames(self) -> Iterator[tuple[int, bytes]]:
        yield from self._frames

    def send(self, channel: int, data: bytes) -> None:
        self.sent.append((channel, data))

    def close(self) -> None:
        pass


def test_ready_split_across_messages_is_found_and_not_passed_on() -> None:
    half = len(envpipe.READY) // 2
    channels = Frames([(STDOUT, b"motd\n" + envpipe.READY[:half]), (STDOUT, envpipe.READY[half:] + b"after")])
    out: list[bytes] = []
    ended = envpipe.hand_over(channels, b"V=x\n\n", out.append, out.append)  # type: ignore[arg-type]
    assert ended is None
    assert b"".join(out) == b"motd\nafter"
    assert channels.sent == [(STDIN, b"V=x\n\n")]


def test_a_wrapper_that_ends_before_ready_is_given_nothing() -> None:
    status = b'{"status":"Failure","details":{"causes":[{"reason":"ExitCode","message":"126"}]}}'
    channels = Frames([(2, b"stty: not a tty\n"), (3, status)])
    err: list[bytes] = []
    assert envpipe.hand_over(channels, b"V=x\n\n", err.append, err.append) == (126, "")  # type: ignore[arg-type]
    assert channels.sent == []
    assert err == [b"stty: not a tty\n"]
