"""``baylight`` commands: retention run [--dry-run] (issue 14, item 8).

``retention run`` does now what the server's daily job does (every shop's
closed orders past its ``retention_days`` anonymised, in batches); with
``--dry-run`` it only says what that would be: per shop its retention, how
many orders, and each order by its queue number, day and closing date. It
never prints a customer's data, in either form.
"""

from __future__ import annotations

import argparse
from typing import Any
from zoneinfo import ZoneInfo

from shared.services import retention
from shared.services.core import Core


def add_commands(commands: Any) -> None:
    """Add this module's subcommands to the CLI's subparsers."""
    group = commands.add_parser("retention", help="customer-data retention")
    actions = group.add_subparsers(dest="retention_command", required=True)
    run = actions.add_parser(
        "run", help="anonymise closed orders past their shop's retention (as the daily job)"
    )
    run.add_argument(
        "--dry-run", action="store_true", help="print what would change and change nothing"
    )


def dispatch(args: argparse.Namespace, core: Core) -> bool:
    """Run args.command if it is this module's; False if not."""
    if args.command != "retention":
        return False
    if args.dry_run:
        _dry_run(core)
    else:
        _run(core)
    return True


def _dry_run(core: Core) -> None:
    plans = retention.plan(core)
    total = sum(len(shop.orders) for shop in plans)
    print(f"retention dry run: nothing was changed; {total} orders would be anonymised")
    for shop in plans:
        zone = ZoneInfo(shop.timezone)
        before = shop.cutoff.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        print(
            f"shop {shop.slug} ({shop.name}): keeps {shop.days} days; "
            f"{len(shop.orders)} orders closed before {before} ({shop.timezone})"
        )
        for order in shop.orders:
            print(
                f"  order {order.id}: #{order.number} of {order.business_day.isoformat()}, "
                f"{order.stage} {order.closed_on.isoformat()}"
            )


def _run(core: Core) -> None:
    runs = retention.run_retention(core)
    total = sum(len(run.anonymised) for run in runs)
    print(f"retention run: {total} orders anonymised")
    for run in runs:
        print(
            f"shop {run.slug}: keeps {run.days} days; {len(run.anonymised)} orders "
            f"anonymised (batches: {run.batches})"
        )
