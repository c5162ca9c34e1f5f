"""The command line: parse, dispatch to commands/, and the one top-level handler
that turns a ClaudeBottleError into `claude-bottle: <message>` and an exit code."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from dataclasses import replace

from claude_bottle import _interrupted_while_starting, agent_image, package_data
from claude_bottle.cli.commands import COMMANDS, command_module
from claude_bottle.console import PROG, info, set_verbose
from claude_bottle.engine.select import ENGINES
from claude_bottle.errors import ClaudeBottleError
from claude_bottle.paths import HostPaths
from claude_bottle.settings import Settings

VERBOSE_HELP = "echo every engine and git command (secrets redacted), its duration and exit status"
ENGINE_HELP = "the engine that runs bottles (default: $CLAUDE_BOTTLE_ENGINE, else docker)"


class _Version(argparse.Action):
    """--version, read from the installed distribution only when asked (a metadata
    lookup on every start would cost each command its time)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"{PROG} {package_data.version()} (Claude Code {agent_image.CLAUDE_CODE_VERSION})")
        parser.exit()


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (`only`) the one with that command's alone: what a
    command line naming it needs, without importing every other command."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run a coding agent in a container whose only way out is an egress proxy.",
    )
    parser.add_argument(
        "--version", action=_Version, help="print the version and the pinned Claude Code version"
    )
    sub = parser.add_subparsers(dest="command_name", metavar="COMMAND", required=True)
    for name in (only,) if only is not None else COMMANDS:
        command_module(name).add_parser(sub, name)
    # --verbose before or after the command (SUPPRESS: a command's own default
    # would otherwise overwrite a --verbose given before it).
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    parser.add_argument("--engine", choices=ENGINES, help=ENGINE_HELP)
    for command in sub.choices.values():
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
        command.add_argument("--engine", choices=ENGINES, default=argparse.SUPPRESS, help=ENGINE_HELP)
    return parser


# Commands that read the whole parser (a completion script lists every command).
WHOLE_PARSER = frozenset({"completion"})


def named_command(words: Sequence[str]) -> str | None:
    """The command a command line names, when its parser alone will do: its
    first word that is a command's name and not the value of --engine. None for
    a line that names none (usage, --help), or a command that reads the whole parser."""
    for before, word in zip(["", *words], words, strict=False):
        if word in COMMANDS and before != "--engine":
            return None if word in WHOLE_PARSER else word
    return None


def host_settings(args: argparse.Namespace, settings: Settings, paths: HostPaths) -> Settings:
    """The settings with the global options that override two of them, and a
    leading ~ of CLAUDE_BOTTLE_EXTRA_CA expanded (as the shell would not)."""
    verbose = settings.verbose or bool(args.verbose)
    engine = args.engine or settings.engine
    extra_ca = str(paths.expand(settings.extra_ca)) if settings.extra_ca else None
    return replace(settings, verbose=verbose, engine=engine, extra_ca=extra_ca)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # also one landing outside a command (parsing, printing)
        info("interrupted")
        return 130


def _main(argv: Sequence[str] | None) -> int:
    # From here on a Ctrl-C is a KeyboardInterrupt this module turns into exit 130
    # (the package installed a start-up handler that exits at once).
    if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    words = list(sys.argv[1:] if argv is None else argv)
    if any("\0" in w for w in words):  # only possible in-process: argv from exec() cannot hold one
        info("argument contains a NUL character")
        return 2
    # Everything after the first "--" is a command for the bottle, never our options.
    tail: list[str] | None = None
    if "--" in words:
        cut = words.index("--")
        words, tail = words[:cut], words[cut + 1 :]
    parser = build_parser(named_command(words))
    try:
        args = parser.parse_args(words)
        args.parser = parser
        # The host context, made once here and passed down: every CLAUDE_BOTTLE_*
        # setting (--verbose and --engine stand for two of them) and every path.
        args.paths = HostPaths.from_environ(os.environ)
        args.settings = host_settings(args, Settings.from_environ(os.environ), args.paths)
        set_verbose(args.settings.verbose)
        if tail is not None:
            if not getattr(args, "takes_command", False):
                parser.error(f"'{args.command_name}' takes no command after --")
            args.command = tail
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 2
    try:
        result: int = args.handler(args)
        return result
    except ClaudeBottleError as exc:
        if args.settings.debug:
            traceback.print_exc()
        info(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        info("interrupted")
        return 130


def main_entry() -> None:
    try:
        code = main()
    except KeyboardInterrupt:
        info("interrupted")
        code = 130
    # Finished: a Ctrl-C from now on could only land while the interpreter shuts
    # down, after it has put SIGINT back to the default, and turn a finished run's
    # status into death by signal. Ignored handlers are left as they are then.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)
