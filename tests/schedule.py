"""The order test files are handed to xdist workers: the longest first.

With ``--dist loadfile`` each worker takes one file at a time, in the order
the queue holds them. xdist's default queue puts the files with the most
tests first (hundreds of millisecond-long domain cases), which leaves the
few minute-long browser and live-server files for the end, where one worker
runs them alone while the others idle. Longest-first fills the workers
evenly (the classic longest-processing-time rule); the Makefile passes
``--no-loadscope-reorder`` so xdist keeps this order.

The list is measured, not guessed: seconds per file from a parallel run's
JUnit report (``pytest --junitxml=report.xml``, summing each file's cases).
A file missing here runs after these in collection order, so a stale list
only costs time, never a test.
"""

from __future__ import annotations

import pytest

LONGEST_FIRST = (
    "tests/kiosk/test_kiosk_browser.py",  # 51 s
    "tests/e2e/test_reconnect_storm.py",  # three servers, 2,000 screens each
    "tests/e2e/test_socket_properties.py",  # 50 s
    "tests/test_cli.py",  # 49 s
    "tests/e2e/test_lan_origins.py",  # 41 s
    "tests/e2e/test_revocation.py",  # 38 s
    "tests/test_transport_limits.py",  # 36 s, most of it waiting for timeouts
    "tests/board/test_lounge_screen.py",  # 35 s
    "tests/test_async_modes.py",  # 35 s
    "tests/board/test_holds_on_screens.py",  # 29 s
    "tests/board/test_kiosk_holds.py",  # 28 s
    "tests/test_fuzz_api.py",  # 26 s
    "tests/board/test_screenshots.py",  # 25 s
    "tests/photos/test_photo_browser.py",  # 25 s
    "tests/board/test_desk_holds.py",  # 24 s
    "tests/e2e/test_api_errors.py",  # 22 s
    "tests/reception/test_customer_browser.py",  # 18 s
    "tests/test_request_input.py",  # 18 s
    "tests/board/test_board_screen.py",  # 18 s
    "tests/board/test_recovery.py",  # 17 s
    "tests/board/test_board_live.py",  # 17 s
    "tests/test_request_fuzz.py",  # 15 s
    "tests/test_postgres.py",  # 14 s
    "tests/test_staff_login.py",  # 13 s
    "tests/test_transport_tuning.py",  # 12 s
    "tests/board/test_quotes_live.py",  # 11 s
    "tests/test_demo_bays.py",  # 10 s
    "tests/test_demo.py",  # 9 s
    "tests/services/test_concurrency.py",  # 8 s
    "tests/test_rate_key.py",  # 8 s
    "tests/board/test_lan_screen.py",  # 8 s
    "tests/photos/test_signatures.py",  # 7 s
    "tests/services/test_clock_provenance.py",  # 7 s
    "tests/test_group_commit_durability.py",  # 7 s, a server killed and restarted
)
RANK = {path: rank for rank, path in enumerate(LONGEST_FIRST)}


def longest_first(items: list[pytest.Item]) -> None:
    """Reorder ``items`` in place: listed files first, by rank; within a
    file, and among the unlisted files, the collection order stays."""
    position = {id(item): index for index, item in enumerate(items)}

    def key(item: pytest.Item) -> tuple[int, int]:
        path = item.nodeid.split("::", 1)[0]
        return (RANK.get(path, len(RANK)), position[id(item)])

    items.sort(key=key)
