"""``baylight`` commands: list-tokens [--shop S] and revoke-token ID (issue 14, item 6)."""

from __future__ import annotations

import argparse
from typing import Any

from shared.services.core import Core


def add_commands(commands: Any) -> None:
    """Add this module's subcommands to the CLI's subparsers."""


def dispatch(args: argparse.Namespace, core: Core) -> bool:
    """Run args.command if it is this module's; False if not."""
    return False
