"""``baylight`` commands of the dealer group (issue 14, item 5):
create-shop SLUG --name NAME [--timezone TZ], grant-group USER_ID and
revoke-group USER_ID.

The operator at the server acts for the whole installation: they make
shops (``shops.create_shop``, the service the group admin's page calls too)
and name the first group admin (``baylight create-user --qualification
group``, or ``grant-group`` for someone who has an account already). From
then on a group admin does both from the browser, at /group
(docs/admin/group.md)."""

from __future__ import annotations

import argparse
from typing import Any

from shared.services import group, shops
from shared.services.core import Core


def add_commands(commands: Any) -> None:
    """Add this module's subcommands to the CLI's subparsers."""
    create = commands.add_parser("create-shop", help="add a shop to the installation")
    create.add_argument("slug", help="its name in links: lowercase letters, digits, hyphens")
    create.add_argument("--name", required=True, help="the shop's name as people say it")
    create.add_argument(
        "--timezone",
        default=shops.DEFAULT_TIMEZONE,
        help=f"IANA time zone of the shop's clock (default {shops.DEFAULT_TIMEZONE})",
    )
    grant = commands.add_parser(
        "grant-group", help="make an admin or manager a group member (sees every shop)"
    )
    grant.add_argument("user_id", type=int)
    revoke = commands.add_parser("revoke-group", help="take group membership back")
    revoke.add_argument("user_id", type=int)


def _create_shop(args: argparse.Namespace, core: Core) -> None:
    created = shops.create_shop(
        core, shops.NewShop(slug=args.slug, name=args.name, timezone=args.timezone)
    )
    print(f"shop {created.id} created: {created.name} ({created.slug}, {created.timezone})")
    print(f"sign-in link: {shops.sign_in_link(core, created.slug)}")
    print("add its first admin (type the password on stdin):")
    print(f"  baylight create-user --shop {created.slug} --role admin --name NAME --password-stdin")


def dispatch(args: argparse.Namespace, core: Core) -> bool:
    """Run args.command if it is this module's; False if not."""
    if args.command == "create-shop":
        _create_shop(args, core)
        return True
    if args.command in ("grant-group", "revoke-group"):
        member = args.command == "grant-group"
        outcome = group.set_membership(core, None, args.user_id, member=member)
        person = outcome.body
        state = "is a group member" if person["group"] else "is no group member"
        print(f"user {person['id']} ({person['name']}, {person['role']}) {state}")
        return True
    return False
