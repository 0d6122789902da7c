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
    "tests/kiosk/test_kiosk_browser.py",  # 31 s
    "tests/e2e/test_revocation.py",  # 30 s
    "tests/e2e/test_socket_properties.py",  # 28 s
    "tests/test_first_run.py",  # 28 s
    "tests/test_transport_limits.py",  # 27 s
    "tests/test_cli.py",  # 25 s
    "tests/e2e/test_api_errors.py",  # 22 s
    "tests/board/test_board_screen.py",  # 22 s
    "tests/test_async_modes.py",  # 21 s
    "tests/test_request_input.py",  # 21 s
    "tests/board/test_desk_holds.py",  # 20 s
    "tests/board/test_holds_on_screens.py",  # 20 s
    "tests/board/test_kiosk_holds.py",  # 20 s
    "tests/board/test_lounge_screen.py",  # 20 s
    "tests/test_postgres.py",  # 17 s
    "tests/e2e/test_resume.py",  # 17 s
    "tests/board/test_screenshots.py",  # 16 s
    "tests/kiosk/test_admin_staff_browser.py",  # 16 s
    "tests/test_cross_shop.py",  # 16 s
    "tests/board/test_admin_shop_browser.py",  # 14 s
    "tests/e2e/test_lan_origins.py",  # 13 s
    "tests/test_staff_login.py",  # 13 s
    "tests/board/test_board_live.py",  # 13 s
    "tests/board/test_lounge_wait.py",  # 12 s
    "tests/kiosk/test_group_browser.py",  # 12 s
    "tests/photos/test_photos.py",  # 12 s
    "tests/board/test_recovery.py",  # 11 s
    "tests/e2e/test_reconnect_storm.py",  # 11 s
    "tests/test_demo.py",  # 11 s
    "tests/reception/test_customer_browser.py",  # 11 s
    "tests/kiosk/test_pin_change_browser.py",  # 11 s
    "tests/photos/test_photo_browser.py",  # 11 s
    "tests/kiosk/test_admin_screens_browser.py",  # 10 s
    "tests/test_demo_bays.py",  # 10 s
    "tests/photos/test_signatures.py",  # 10 s
    "tests/domain/test_planner.py",  # 10 s
    "tests/test_fuzz_api.py",  # 10 s
    "tests/services/test_retention_year.py",  # 10 s
    "tests/reception/test_desk_privacy_browser.py",  # 10 s
    "tests/services/test_bay_occupied.py",  # 9 s
    "tests/test_first_run_browser.py",  # 8 s
    "tests/board/test_lan_screen.py",  # 7 s
    "tests/board/test_quotes_live.py",  # 7 s
    "tests/test_transport_tuning.py",  # 7 s
    "tests/board/test_csp.py",  # 7 s
    "tests/services/test_commands.py",  # 7 s
    "tests/kiosk/test_admin_staff.py",  # 7 s
    "tests/kiosk/test_admin_audit.py",  # 7 s
    "tests/test_request_fuzz.py",  # 6 s
    "tests/services/test_retention.py",  # 6 s
    "tests/reception/test_reception.py",  # 6 s
    "tests/test_group_commit_durability.py",  # 6 s
    "tests/test_i18n.py",  # 6 s
    "tests/board/test_admin_bays_shop.py",  # 5 s
    "tests/test_rate_key.py",  # 5 s
    "tests/kiosk/test_admin_pages_fit.py",  # 5 s
    "tests/services/test_admin_audit_events.py",  # 5 s
    "tests/domain/test_replay_stateful.py",  # 5 s
    "tests/test_socket_recheck.py",  # 5 s
    "tests/reception/test_desk_privacy_requests.py",  # 5 s
    "tests/board/test_pairing_slow_down.py",  # 5 s
    "tests/board/test_admin.py",  # 5 s
    "tests/test_create_shop_cli.py",  # 5 s
    "tests/kiosk/test_group.py",  # 4 s
    "tests/services/test_clock_provenance.py",  # 4 s
    "tests/kiosk/test_foreman_bay_taken.py",  # 4 s
    "tests/test_serve_port.py",  # 4 s
    "tests/test_snapshot_cache.py",  # 4 s
    "tests/services/test_concurrency.py",  # 4 s
    "tests/services/test_shop_history.py",  # 4 s
    "tests/kiosk/test_admin_tokens.py",  # 3 s
    "tests/e2e/test_fanout.py",  # 3 s
    "tests/services/test_honest_time.py",  # 3 s
    "tests/kiosk/test_kiosk_labour_service.py",  # 3 s
    "tests/board/test_old_engines.py",  # 3 s
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
