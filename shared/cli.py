"""``baylight`` commands (the public command names): init-db, serve, create-token,
create-user, pair, backup, restore, notify-worker. Errors go to stderr with exit code 2.

Every text argument is held to the rule for stored text (``shared.domain.text``)
as argparse reads it, like a field of a REST body: a name typed with a stray
control character, or bytes that are not UTF-8 (which Python hands over as
lone surrogates), would otherwise be stored and break every screen that shows it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from shared.config import ConfigError, Settings
from shared.domain.bays import BAY_KINDS
from shared.domain.errors import DomainError, ValidationFailed
from shared.domain.text import check_text, text_problem
from shared.metrics import Metrics
from shared.persistence.database import Database, upgrade_schema
from shared.realtime.publisher import Publisher
from shared.services import api_tokens, backup, devices, setup
from shared.services.auth import TOKEN_ROLES
from shared.services.core import Core


def _offline_core(settings: Settings) -> Core:
    """A core for commands run beside the server: same database, no sockets."""
    database = Database(settings.database_url)
    upgrade_schema(database)
    metrics = Metrics()
    publisher = Publisher(metrics)
    if settings.message_queue:
        # Changes made here reach every worker's screens through the queue.
        # Imported here: the Socket.IO client stack is a tenth of a second
        # of every command's start, and only a scaled-out install needs it.
        from shared.realtime.external import queue_emitter

        publisher.emitter = queue_emitter(settings.message_queue)
    return Core(settings=settings, db=database, publisher=publisher, metrics=metrics)


def _text(value: str) -> str:
    """argparse's reading of a text argument: refused (exit 2, naming the
    argument) unless the text rule allows it."""
    problem = text_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return value


class _TextArguments(argparse.ArgumentParser):
    """The parser of one command: its arguments without an explicit ``type``
    are text under the rule, so no argument is missed. (Only the commands'
    parsers: the top-level one hands a command's whole remainder to its
    parser, and must not read it as one text.)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("type", None, _text)


def _password_from_stdin() -> str:
    try:
        line = sys.stdin.readline()
    except UnicodeDecodeError:
        raise ValidationFailed("password", "The password is not UTF-8 text.") from None
    return check_text("password", line.rstrip("\n"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="baylight", description="Baylight workshop board")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_TextArguments)

    commands.add_parser("init-db", help="create or upgrade the database schema")

    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5000)
    serve.add_argument("--demo", action="store_true", help="seed a demo shop and run the simulator")

    token = commands.add_parser("create-token", help="print a new bearer token (last line)")
    token.add_argument("--role", required=True, choices=TOKEN_ROLES)
    token.add_argument("--name", required=True)
    token.add_argument("--shop", default=None, help="shop slug (default: the first shop)")

    user = commands.add_parser("create-user", help="add a staff member")
    user.add_argument("--role", required=True, choices=setup.USER_ROLES)
    user.add_argument("--name", required=True)
    user.add_argument("--badge")
    user.add_argument("--pin")
    user.add_argument("--password-stdin", action="store_true")
    user.add_argument(
        "--qualification",
        action="append",
        default=[],
        # Check levels, the skills appointments count on, the dealer group.
        choices=("team_lead", "qc_inspector", "ev", "paint", "alignment", "group"),
    )
    user.add_argument("--phone", default="")
    user.add_argument("--shop", default=None)

    pair = commands.add_parser("pair", help="approve the code a screen shows")
    pair.add_argument("code")
    pair.add_argument("--kind", required=True, choices=devices.DEVICE_KINDS)
    pair.add_argument("--name", required=True)
    pair.add_argument("--shop", default=None)

    revoke = commands.add_parser("revoke-device", help="unpair a screen")
    revoke.add_argument("device_id", type=int)

    bay = commands.add_parser("add-bay", help="add a work bay")
    bay.add_argument("code")
    bay.add_argument("--name", default="")
    bay.add_argument(
        "--kind",
        default="general",
        choices=BAY_KINDS,
        help="what the bay is for (default general)",
    )
    bay.add_argument("--capacity", type=int, default=1, help="cars it holds at once (default 1)")
    bay.add_argument("--shop", default=None)

    take = commands.add_parser("backup", help="online, consistent copy of the database")
    take.add_argument("path")
    give = commands.add_parser("restore", help="replace the database with a backup")
    give.add_argument("path")
    for extension in _extensions():
        extension.add_commands(commands)
    return parser


def _extensions() -> tuple[Any, ...]:
    """Command groups kept in their own modules (each has
    ``add_commands(subparsers)`` and ``dispatch(args, core) -> bool``)."""
    from shared import cli_notify, cli_retention, cli_shops, cli_tokens

    return (cli_tokens, cli_retention, cli_shops, cli_notify)


def run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return _dispatch(args, settings)
    except (DomainError, ConfigError, backup.BackupError) as failure:
        detail = failure.detail if isinstance(failure, DomainError) else str(failure)
        print(f"baylight: {detail}", file=sys.stderr)
        return 2


def _dispatch(args: Any, settings: Settings) -> int:
    if args.command == "serve":
        from shared.server import serve

        serve(settings, host=args.host, port=args.port, demo=args.demo)
        return 0
    if args.command == "restore":
        backup.restore(settings, args.path)
        print(f"restored {args.path}")
        return 0
    core = _offline_core(settings)
    if args.command == "init-db":
        setup.ensure_shop(core)
        print(f"database ready: {core.db.url.render_as_string(hide_password=True)}")
    elif args.command == "create-token":
        shop_id = setup.shop_id_for(core, args.shop)
        print(f"token for {args.name} ({args.role}); keep it secret, it is shown once:")
        secret = api_tokens.create_token(
            core, api_tokens.CLI_ACTOR, shop_id=shop_id, role=args.role, name=args.name
        )
        print(secret)
    elif args.command == "create-user":
        password = _password_from_stdin() if args.password_stdin else None
        user_id = setup.create_user(
            core,
            setup.shop_id_for(core, args.shop),
            role=args.role,
            name=args.name,
            badge=args.badge,
            pin=args.pin,
            password=password,
            qualifications=tuple(args.qualification),
            phone=args.phone,
        )
        print(f"user {user_id} created")
    elif args.command == "pair":
        device_id = devices.approve_pairing(
            core,
            args.code,
            kind=args.kind,
            name=args.name,
            shop_id=setup.shop_id_for(core, args.shop),
            actor=api_tokens.CLI_ACTOR,
        )
        print(f"paired: device {device_id} ({args.kind}) '{args.name}'")
    elif args.command == "revoke-device":
        devices.revoke_device(core, args.device_id, actor=api_tokens.CLI_ACTOR)
        print(f"device {args.device_id} revoked")
    elif args.command == "add-bay":
        bay_id = setup.add_bay(
            core,
            setup.shop_id_for(core, args.shop),
            args.code,
            args.name,
            kind=args.kind,
            capacity=args.capacity,
        )
        print(f"bay {bay_id} added")
    elif args.command == "backup":
        size = backup.backup(core, args.path)
        print(f"backup written: {args.path} ({size} bytes)")
    else:
        handled = any(extension.dispatch(args, core) for extension in _extensions())
        assert handled, args.command
    core.db.dispose()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(sys.argv[1:]))
