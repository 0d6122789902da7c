"""``baylight`` (shared.entrypoint) with some module constants set first, for
a test's own server process only:

    python -m tests.patched_entrypoint '{"shared.web.connections.X": 4}' serve ...

The server is patched for its async mode before anything else is imported
(as the entrypoint does), then each ``module.NAME`` is set, in the order
given, before the CLI imports the rest: a module that copies a constant at
import (``from shared.web.connections import REQUEST_TIMEOUT_SECONDS``) then
copies the patched one. Only existing names of numbers or booleans can be
set, each to a value of its type, so a renamed constant fails the test
instead of patching nothing.
"""

from __future__ import annotations

import importlib
import json
import os
import sys


def main(argv: list[str]) -> int:
    patches: dict[str, float | bool] = json.loads(argv[0])
    args = argv[1:]
    from shared.entrypoint import main as entrypoint
    from shared.entrypoint import patch_for

    if args[:1] == ["serve"]:
        patch_for(os.environ.get("BAYLIGHT_ASYNC_MODE", "eventlet") or "eventlet")
    for dotted, value in patches.items():
        module_name, name = dotted.rsplit(".", 1)
        module = importlib.import_module(module_name)
        current = getattr(module, name)
        if isinstance(current, bool) != isinstance(value, bool) or not isinstance(
            current, int | float
        ):
            raise TypeError(f"{dotted} is {current!r}: not to be set to {value!r}")
        setattr(module, name, value)
    return entrypoint(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
