"""The order test files are handed to xdist workers: the longest first.

With ``--dist loadfile`` each worker takes one file at a time, in the order
the queue holds them. xdist's default queue puts the files with the most
tests first (hundreds of millisecond-long domain cases), which leaves the
few minute-long browser and live-server files for the end, where one worker
runs them alone while the others idle. Longest-first fills the workers
evenly (the classic longest-processing-time rule); the Makefile passes
``--no-loadscope-reorder`` so xdist keeps this order.

The list is measured, not guessed: seconds per file from a parallel run's
JUnit report (``pytest -n 3 --dist loadfile --junitxml=report.xml``, summing
each file's cases), files of 8 s or more. Last measured on 2026-11-29 at
16:28 UTC (the whole suite, 541 s) while other work loaded the machine for
most of the run (load about 7 on two cores): the seconds are above a quiet
run's, the order is what counts.
A file missing here runs after these in collection order, so a stale list
only costs time, never a test.
"""

from __future__ import annotations

import pytest

LONGEST_FIRST = (
    "tests/test_report_process.py",  # 64 s
    "tests/test_fuzz_api.py",  # 40 s
    "tests/test_bench_notify.py",  # 38 s
    "tests/e2e/test_revocation.py",  # 37 s
    "tests/test_accessibility_browser.py",  # 37 s
    "tests/notify/test_notify_worker.py",  # 36 s
    "tests/test_fuzz_api_part3.py",  # 32 s
    "tests/test_cli.py",  # 29 s
    "tests/board/test_reports_page.py",  # 29 s
    "tests/board/test_kiosk_holds.py",  # 27 s
    "tests/kiosk/test_kiosk_browser.py",  # 26 s
    "tests/test_fuzz_api_part2.py",  # 25 s
    "tests/kiosk/test_kiosk_cards_browser.py",  # 24 s
    "tests/reception/test_desk_booking_browser.py",  # 24 s
    "tests/board/test_holds_on_screens.py",  # 22 s
    "tests/board/test_recovery.py",  # 21 s
    "tests/e2e/test_socket_properties.py",  # 21 s
    "tests/test_async_modes.py",  # 20 s
    "tests/test_fuzz_api_part4.py",  # 20 s
    "tests/board/test_desk_holds.py",  # 20 s
    "tests/reception/test_booking_page_browser.py",  # 19 s
    "tests/board/test_board_screen.py",  # 19 s
    "tests/board/test_lounge_screen.py",  # 18 s
    "tests/photos/test_photo_browser.py",  # 18 s
    "tests/test_problem_language.py",  # 18 s
    "tests/test_transport_limits.py",  # 18 s
    "tests/test_request_input.py",  # 17 s
    "tests/kiosk/test_admin_staff_browser.py",  # 16 s
    "tests/board/test_reports_appointments_browser.py",  # 16 s
    "tests/e2e/test_reconnect_storm.py",  # 16 s
    "tests/services/test_report_days.py",  # 15 s
    "tests/kiosk/test_admin_screens_browser.py",  # 15 s
    "tests/test_staff_login.py",  # 15 s
    "tests/e2e/test_api_errors.py",  # 15 s
    "tests/board/test_admin_shop_browser.py",  # 15 s
    "tests/test_cross_shop.py",  # 14 s
    "tests/reception/test_customer_browser.py",  # 14 s
    "tests/board/test_board_arrivals_settings_browser.py",  # 14 s
    "tests/board/test_screenshots.py",  # 13 s
    "tests/e2e/test_resume.py",  # 13 s
    "tests/board/test_board_live.py",  # 13 s
    "tests/test_demo.py",  # 12 s
    "tests/test_demo_bays.py",  # 12 s
    "tests/reception/test_desk_list_browser.py",  # 12 s
    "tests/test_transport_tuning.py",  # 12 s
    "tests/e2e/test_lan_origins.py",  # 12 s
    "tests/kiosk/test_group_reports.py",  # 12 s
    "tests/services/test_retention_year.py",  # 11 s
    "tests/test_first_run.py",  # 11 s
    "tests/test_first_run_browser.py",  # 11 s
    "tests/services/test_reports.py",  # 10 s
    "tests/domain/test_planner.py",  # 10 s
    "tests/kiosk/test_group_browser.py",  # 10 s
    "tests/kiosk/test_foreman_console_browser.py",  # 10 s
    "tests/reception/test_desk_privacy_browser.py",  # 10 s
    "tests/reception/test_ticket_browser.py",  # 9 s
    "tests/reception/test_desk_calls_browser.py",  # 9 s
    "tests/kiosk/test_admin_pages_fit.py",  # 9 s
    "tests/services/test_shop_history.py",  # 8 s
    "tests/test_request_fuzz.py",  # 8 s
    "tests/board/test_lan_screen.py",  # 8 s
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
