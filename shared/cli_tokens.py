"""``baylight`` commands: list-tokens [--shop S] and revoke-token ID (issue 14, item 6).

The operator on the server acts for every shop: list-tokens without --shop
lists every shop's tokens, and revoke-token names a token by its id alone.
Revoking takes the same service path as the admin page and REST
(``api_tokens.revoke_token``); the server's hub cuts the token's open
sockets at its next round (a few seconds), as for any revocation made
outside its process."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from shared.services import api_tokens, setup
from shared.services.commands import CommandRequest
from shared.services.core import Core


def add_commands(commands: Any) -> None:
    """Add this module's subcommands to the CLI's subparsers."""
    listing = commands.add_parser("list-tokens", help="list API tokens (never their secrets)")
    listing.add_argument("--shop", default=None, help="shop slug (default: every shop)")
    revoke = commands.add_parser("revoke-token", help="revoke an API token by its id")
    revoke.add_argument("token_id", type=int)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "-"


def dispatch(args: argparse.Namespace, core: Core) -> bool:
    """Run args.command if it is this module's; False if not."""
    if args.command == "list-tokens":
        shop_id = setup.shop_id_for(core, args.shop) if args.shop else None
        print("id\tshop\trole\tname\tcreated\tlast used\trevoked")
        for token in api_tokens.list_tokens(core, shop_id):
            print(
                "\t".join(
                    (
                        str(token.id),
                        token.shop,
                        token.role,
                        token.name,
                        _when(token.created_at),
                        _when(token.last_used_at),
                        _when(token.revoked_at),
                    )
                )
            )
        return True
    if args.command == "revoke-token":
        request = CommandRequest(
            actor=api_tokens.CLI_ACTOR, shop_id=api_tokens.shop_of_token(core, args.token_id)
        )
        api_tokens.revoke_token(core, request, args.token_id)
        print(f"token {args.token_id} revoked")
        return True
    return False
