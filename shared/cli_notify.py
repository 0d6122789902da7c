"""``baylight notify-worker``: the notification sender as a process of its own
(issue 17; docs/NOTIFICATIONS.md).

``baylight serve`` sends customers' messages itself unless
``BAYLIGHT_NOTIFY_SENDER=off``; a shop that scales out runs one or more
workers beside it against the same database. Several may run at once: each
message is claimed by one of them (``shared.notify.sender``). SIGTERM or
SIGINT lets the message in hand finish, gives the rest of its batch back to
the queue and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

from shared.notify.sender import Sender
from shared.services.core import Core


def add_commands(commands: Any) -> None:
    """Add this module's subcommands to the CLI's subparsers."""
    worker = commands.add_parser(
        "notify-worker", help="send the customers' notifications until stopped (SIGTERM)"
    )
    worker.add_argument("--once", action="store_true", help="send what is due now, then exit")


def dispatch(args: argparse.Namespace, core: Core) -> bool:
    """Run args.command if it is this module's; False if not."""
    if args.command != "notify-worker":
        return False
    run_worker(core, once=args.once)
    return True


# The worker's niceness: customers' messages wait for no one at the
# millisecond, the screens' publishing does. On a box it shares with
# ``serve`` (deploy/), its sending's CPU (the SDKs' signing, HTTP, SMTP:
# about 2-3 ms a message) then never delays a change reaching a screen;
# on an idle box it still gets the whole core.
NICENESS = 15


def run_worker(core: Core, *, once: bool = False) -> int:
    """Send until SIGTERM/SIGINT (or one pass with ``once``); messages handled
    by the single pass, 0 for the loop."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS - os.nice(0))
    stopping = threading.Event()
    sender = Sender(core, sleep=stopping.wait)

    def stop(signum: int, _frame: FrameType | None) -> None:
        sender.stop()
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    where = core.db.url.render_as_string(hide_password=True)
    if not core.settings.public_url:
        print(
            "notify-worker: warning: BAYLIGHT_PUBLIC_URL is not set; the tracking links in "
            f"messages use {core.settings.listen_url}, which customers' phones cannot open",
            file=sys.stderr,
            flush=True,
        )
    if once:
        handled = sender.drain_once()
        print(f"notify-worker: messages handled: {handled} ({where})", flush=True)
        return handled
    print(f"notify-worker: sending from {where} as {sender.worker}", file=sys.stderr, flush=True)
    sender.run()
    print(
        f"notify-worker: stopped; messages handled: {sender.handled}", file=sys.stderr, flush=True
    )
    return 0
