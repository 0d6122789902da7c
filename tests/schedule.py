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
16:10 UTC (the whole suite, 13 min) while other work loaded the machine
(load about 7 on two cores): the seconds are above a quiet run's, the order
is what counts. The report pages' files (tests/board/test_reports_page.py,
tests/kiosk/test_group_reports.py, tests/board/test_reports_appointments_browser.py)
got a normal-priority report worker after that run and take less now.
A file missing here runs after these in collection order, so a stale list
only costs time, never a test.
"""

from __future__ import annotations

import pytest

LONGEST_FIRST = (
    "tests/test_report_process.py",  # 104 s
    "tests/test_cli.py",  # 60 s
    "tests/board/test_reports_page.py",  # 50 s
    "tests/test_accessibility_browser.py",  # 49 s
    "tests/test_bench_notify.py",  # 49 s
    "tests/notify/test_notify_worker.py",  # 43 s
    "tests/kiosk/test_kiosk_browser.py",  # 41 s
    "tests/test_fuzz_api_part4.py",  # 37 s
    "tests/test_problem_language.py",  # 36 s
    "tests/test_fuzz_api.py",  # 36 s
    "tests/test_fuzz_api_part3.py",  # 35 s
    "tests/board/test_desk_holds.py",  # 34 s
    "tests/e2e/test_revocation.py",  # 34 s
    "tests/test_fuzz_api_part2.py",  # 31 s
    "tests/test_first_run.py",  # 30 s
    "tests/kiosk/test_kiosk_cards_browser.py",  # 30 s
    "tests/e2e/test_socket_properties.py",  # 29 s
    "tests/reception/test_desk_booking_browser.py",  # 29 s
    "tests/e2e/test_reconnect_storm.py",  # 28 s
    "tests/board/test_kiosk_holds.py",  # 27 s
    "tests/test_staff_login.py",  # 27 s
    "tests/reception/test_booking_page_browser.py",  # 26 s
    "tests/test_request_input.py",  # 24 s
    "tests/board/test_holds_on_screens.py",  # 24 s
    "tests/kiosk/test_admin_screens_browser.py",  # 24 s
    "tests/e2e/test_resume.py",  # 23 s
    "tests/e2e/test_lan_origins.py",  # 22 s
    "tests/board/test_board_screen.py",  # 22 s
    "tests/test_cross_shop.py",  # 22 s
    "tests/kiosk/test_admin_staff_browser.py",  # 22 s
    "tests/board/test_lounge_screen.py",  # 22 s
    "tests/photos/test_photo_browser.py",  # 21 s
    "tests/board/test_reports_appointments_browser.py",  # 21 s
    "tests/board/test_recovery.py",  # 21 s
    "tests/kiosk/test_group_reports.py",  # 21 s
    "tests/reception/test_customer_browser.py",  # 20 s
    "tests/reception/test_desk_list_browser.py",  # 20 s
    "tests/services/test_report_days.py",  # 20 s
    "tests/board/test_board_arrivals_settings_browser.py",  # 20 s
    "tests/board/test_admin_shop_browser.py",  # 20 s
    "tests/test_transport_tuning.py",  # 18 s
    "tests/test_transport_limits.py",  # 18 s
    "tests/test_demo.py",  # 18 s
    "tests/kiosk/test_group_browser.py",  # 17 s
    "tests/e2e/test_api_errors.py",  # 17 s
    "tests/test_first_run_browser.py",  # 16 s
    "tests/test_bench_reports.py",  # 16 s
    "tests/kiosk/test_pin_change_browser.py",  # 15 s
    "tests/test_async_modes.py",  # 15 s
    "tests/reception/test_desk_comeback_browser.py",  # 15 s
    "tests/services/test_reports.py",  # 15 s
    "tests/reception/test_desk_notify_browser.py",  # 14 s
    "tests/services/test_shop_history.py",  # 14 s
    "tests/kiosk/test_foreman_console_browser.py",  # 14 s
    "tests/board/test_screenshots.py",  # 14 s
    "tests/reception/test_ticket_browser.py",  # 14 s
    "tests/test_demo_bays.py",  # 14 s
    "tests/services/test_retention_year.py",  # 14 s
    "tests/board/test_lounge_wait.py",  # 13 s
    "tests/services/test_bay_occupied.py",  # 13 s
    "tests/test_bench_replan_past.py",  # 13 s
    "tests/reception/test_desk_privacy_browser.py",  # 13 s
    "tests/kiosk/test_admin_pages_fit.py",  # 11 s
    "tests/domain/test_planner.py",  # 11 s
    "tests/reception/test_desk_calls_browser.py",  # 11 s
    "tests/board/test_board_live.py",  # 11 s
    "tests/test_group_commit_durability.py",  # 11 s
    "tests/reception/test_booking_link_by_phone_browser.py",  # 11 s
    "tests/test_postgres.py",  # 11 s
    "tests/test_i18n.py",  # 10 s
    "tests/domain/test_replay_stateful.py",  # 10 s
    "tests/board/test_lan_screen.py",  # 10 s
    "tests/photos/test_signatures.py",  # 10 s
    "tests/kiosk/test_foreman_bookings_browser.py",  # 9 s
    "tests/reception/test_sign_in_browser.py",  # 9 s
    "tests/test_request_fuzz.py",  # 9 s
    "tests/kiosk/test_kiosk_refusal_language_browser.py",  # 9 s
    "tests/board/test_quotes_live.py",  # 9 s
    "tests/reception/test_booking_form_limits_browser.py",  # 8 s
    "tests/services/test_retention.py",  # 8 s
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
