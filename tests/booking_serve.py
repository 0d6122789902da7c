"""``baylight serve`` with the booking page and its API registered, for the
browser tests, until the app factory and the screens' entry point name them
(tests/booking_support.with_booking is a no-op once they do).

Run as ``python -m tests.booking_serve serve --host … --port …``: it patches
for the async mode first, as the console script does."""

from __future__ import annotations

import os
import sys
from typing import Any


def main(argv: list[str]) -> int:
    from shared.entrypoint import patch_for

    if argv[:1] == ["serve"]:
        patch_for(os.environ.get("BAYLIGHT_ASYNC_MODE", "eventlet") or "eventlet")
    from shared.web import app as factory

    registered = factory.register_screens

    def register_with_booking(app: Any) -> None:
        from tests.booking_support import with_booking

        registered(app)
        with_booking(app)

    factory.register_screens = register_with_booking
    from shared.cli import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
