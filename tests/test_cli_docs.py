"""docs/cli.md against the argparse definitions (issue 18 item 5).

The synopsis block at the top of docs/cli.md has one entry per subcommand (``accelsim NAME ...`` and its
indented continuation lines). Every flag of every subcommand must be in its entry, every flag in an
entry must belong to that subcommand, every subcommand must have an entry, and every ``--flag`` written
anywhere on the page must exist (on some subcommand, or on a module tool the page documents).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from accelsim.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
CLI_MD = ROOT / "docs" / "cli.md"
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings if o.startswith("--") and o != "--help"}


def _synopsis() -> dict[str, str]:
    """``{subcommand: its synopsis text}`` from the first fenced block of docs/cli.md."""
    text = CLI_MD.read_text()
    block = text.split("```", 2)[1]
    entries: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        m = re.match(r"^accelsim (\S+)", line)
        if m:
            current = m.group(1)
            entries[current] = entries.get(current, "") + line + "\n"
        elif current and line.startswith(" "):
            entries[current] += line + "\n"
        else:
            current = None
    return entries


def test_every_subcommand_has_a_synopsis_entry():
    entries = _synopsis()
    missing = sorted(set(_subparsers()) - set(entries))
    assert not missing, f"docs/cli.md has no synopsis line for: {missing}"
    unknown = sorted(set(entries) - set(_subparsers()) - {"--version"})
    assert not unknown, f"docs/cli.md documents subcommands that do not exist: {unknown}"


@pytest.mark.parametrize("name", sorted(_subparsers()))
def test_synopsis_lists_exactly_the_flags_of_the_subcommand(name):
    entry = _synopsis().get(name, "")
    documented = set(FLAG.findall(entry))
    real = _flags(_subparsers()[name])
    assert not real - documented, f"accelsim {name}: flags missing from docs/cli.md: {sorted(real - documented)}"
    assert not documented - real, f"accelsim {name}: docs/cli.md lists flags it does not have: {sorted(documented - real)}"


def test_every_flag_on_the_page_exists():
    """A flag mentioned in the prose (``--resume``, ``--maximize``) is a real flag of some subcommand,
    or of ``accelsim`` itself, or of a module tool documented on the page."""
    from accelsim.cli import roofline, scalesim_topology  # noqa: F401 - the module tools' parsers below

    known = {"--version", "--help"}
    for parser in _subparsers().values():
        known |= _flags(parser)
    known |= _module_tool_flags()
    written = set(FLAG.findall(CLI_MD.read_text()))
    assert not written - known, f"docs/cli.md mentions flags that no command has: {sorted(written - known)}"


def _module_tool_flags() -> set[str]:
    """Flags of ``python -m accelsim.cli.roofline`` and ``python -m accelsim.cli.scalesim_topology``
    (their parsers are built inside main: read from the source's add_argument calls)."""
    flags = set()
    for name in ("roofline.py", "scalesim_topology.py"):
        source = (ROOT / "accelsim" / "cli" / name).read_text()
        flags |= set(re.findall(r"add_argument\(\s*\"(--[a-z][a-z0-9-]*)\"", source))
    return flags


def test_choices_in_the_synopsis_are_the_real_ones():
    """``--kind roofline|breakdown|...`` and ``--format table|json|csv`` list the parser's choices."""
    entries = _synopsis()
    for name, parser in _subparsers().items():
        for action in parser._actions:
            if not action.choices or not action.option_strings or isinstance(action, argparse._SubParsersAction):
                continue
            flag = next(o for o in action.option_strings if o.startswith("--"))
            m = re.search(re.escape(flag) + r" ([\w|.-]+)", entries.get(name, ""))
            if m is None or "|" not in m.group(1):
                continue  # written as a placeholder (e.g. --by layer|op is checked, --format FILE is not)
            written = {c.split(".")[-1] if flag == "--out" else c for c in m.group(1).split("|")}
            assert written == set(map(str, action.choices)), \
                f"accelsim {name} {flag}: docs/cli.md says {sorted(written)}, the parser {sorted(action.choices)}"
