"""The ``baylight`` console script.

Monkey-patching must happen before anything imports sockets, threads or the
database driver, so this module imports nothing of Baylight at the top: it
reads BAYLIGHT_ASYNC_MODE, patches for eventlet or gevent (and makes psycopg2
cooperative with psycogreen, so a PostgreSQL query never blocks the hub), and
only then loads the CLI.
"""

from __future__ import annotations

import os
import sys
import warnings

# Eventlet announces its own deprecation on import; operators cannot act on
# it, so it is not printed to them.
EVENTLET_NOTICE = r"\s*Eventlet is deprecated"


def patch_for(mode: str) -> None:
    """Apply the monkey-patches ``mode`` needs; idempotent."""
    if mode == "eventlet":
        warnings.filterwarnings("ignore", message=EVENTLET_NOTICE)
        import eventlet

        eventlet.monkey_patch()
        from psycogreen.eventlet import patch_psycopg

        patch_psycopg()
    elif mode == "gevent":
        from gevent import monkey

        monkey.patch_all()
        from psycogreen.gevent import patch_psycopg as patch_gevent_psycopg

        patch_gevent_psycopg()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["serve"]:
        patch_for(os.environ.get("BAYLIGHT_ASYNC_MODE", "eventlet") or "eventlet")
    from shared.cli import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
