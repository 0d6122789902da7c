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
21:36 UTC (the whole suite without tests/scale, 1,374 s with ``-n 2``)
while other work loaded the machine: the seconds are about twice a quiet
run's, the order is what counts.
A file missing here runs after these in collection order, so a stale list
only costs time, never a test.
"""

from __future__ import annotations

import pytest

LONGEST_FIRST = (
    "tests/test_fuzz_api_part4.py",  # 84 s
    "tests/test_report_process.py",  # 67 s
    "tests/test_fuzz_api_part2.py",  # 66 s
    "tests/test_accessibility_browser.py",  # 65 s
    "tests/test_cli.py",  # 57 s
    "tests/e2e/test_revocation.py",  # 55 s
    "tests/e2e/test_socket_properties.py",  # 48 s
    "tests/test_problem_language.py",  # 46 s
    "tests/test_fuzz_api.py",  # 45 s
    "tests/test_async_modes.py",  # 44 s
    "tests/kiosk/test_kiosk_browser.py",  # 44 s
    "tests/test_cross_shop.py",  # 41 s
    "tests/board/test_reports_page.py",  # 41 s
    "tests/e2e/test_api_errors.py",  # 40 s
    "tests/test_first_run.py",  # 38 s
    "tests/board/test_desk_holds.py",  # 38 s
    "tests/e2e/test_reconnect_storm.py",  # 35 s
    "tests/e2e/test_lan_origins.py",  # 33 s
    "tests/test_bench_notify.py",  # 32 s
    "tests/notify/test_notify_worker.py",  # 32 s
    "tests/kiosk/test_kiosk_cards_browser.py",  # 31 s
    "tests/services/test_retention_year.py",  # 30 s
    "tests/reception/test_booking_page_browser.py",  # 30 s
    "tests/kiosk/test_admin_staff_browser.py",  # 30 s
    "tests/test_request_input.py",  # 29 s
    "tests/reception/test_desk_booking_browser.py",  # 29 s
    "tests/test_fuzz_api_part3.py",  # 28 s
    "tests/board/test_recovery.py",  # 28 s
    "tests/board/test_holds_on_screens.py",  # 28 s
    "tests/board/test_kiosk_holds.py",  # 28 s
    "tests/board/test_board_screen.py",  # 28 s
    "tests/board/test_admin_shop_browser.py",  # 27 s
    "tests/reception/test_customer_browser.py",  # 27 s
    "tests/services/test_reports.py",  # 27 s
    "tests/photos/test_photo_browser.py",  # 27 s
    "tests/test_demo.py",  # 26 s
    "tests/board/test_lounge_screen.py",  # 25 s
    "tests/reception/test_desk_privacy_browser.py",  # 25 s
    "tests/test_transport_limits.py",  # 24 s
    "tests/services/test_report_days.py",  # 24 s
    "tests/kiosk/test_group_reports.py",  # 23 s
    "tests/domain/test_planner.py",  # 23 s
    "tests/reception/test_desk_list_browser.py",  # 22 s
    "tests/test_bench_reports.py",  # 22 s
    "tests/board/test_screenshots.py",  # 21 s
    "tests/test_transport_tuning.py",  # 21 s
    "tests/kiosk/test_group_browser.py",  # 21 s
    "tests/test_staff_login.py",  # 20 s
    "tests/board/test_reports_appointments_browser.py",  # 20 s
    "tests/kiosk/test_admin_screens_browser.py",  # 20 s
    "tests/kiosk/test_foreman_console_browser.py",  # 19 s
    "tests/e2e/test_resume.py",  # 19 s
    "tests/board/test_board_live.py",  # 19 s
    "tests/board/test_board_arrivals_settings_browser.py",  # 19 s
    "tests/test_connection_memory.py",  # 19 s
    "tests/reception/test_desk_notify_browser.py",  # 19 s
    "tests/test_demo_bays.py",  # 19 s
    "tests/reception/test_desk_comeback_browser.py",  # 18 s
    "tests/domain/test_replay_stateful.py",  # 18 s
    "tests/test_first_run_browser.py",  # 17 s
    "tests/reception/test_sign_in_browser.py",  # 16 s
    "tests/reception/test_ticket_browser.py",  # 16 s
    "tests/kiosk/test_pin_change_browser.py",  # 15 s
    "tests/photos/test_signatures.py",  # 14 s
    "tests/test_bench_replan_past.py",  # 14 s
    "tests/services/test_shop_history.py",  # 14 s
    "tests/kiosk/test_admin_staff.py",  # 14 s
    "tests/reception/test_booking_link_by_phone_browser.py",  # 14 s
    "tests/reception/test_booking_form_limits_browser.py",  # 14 s
    "tests/kiosk/test_foreman_bookings_browser.py",  # 14 s
    "tests/services/test_bay_occupied.py",  # 13 s
    "tests/reception/test_reception.py",  # 13 s
    "tests/kiosk/test_foreman_bookings_leave_browser.py",  # 12 s
    "tests/kiosk/test_admin_pages_fit.py",  # 12 s
    "tests/photos/test_photos.py",  # 12 s
    "tests/kiosk/test_foreman_bookings_staff_change_browser.py",  # 12 s
    "tests/domain/test_capacity_properties.py",  # 11 s
    "tests/services/test_concurrency.py",  # 11 s
    "tests/board/test_quotes_live.py",  # 11 s
    "tests/reception/test_desk_calls_browser.py",  # 11 s
    "tests/notify/test_sender_providers.py",  # 11 s
    "tests/test_i18n.py",  # 11 s
    "tests/services/test_retention.py",  # 10 s
    "tests/test_api_booking_link.py",  # 10 s
    "tests/kiosk/test_group.py",  # 10 s
    "tests/board/test_lan_screen.py",  # 10 s
    "tests/notify/test_sender.py",  # 10 s
    "tests/test_group_commit_durability.py",  # 10 s
    "tests/notify/test_customer_opt_out_browser.py",  # 9 s
    "tests/e2e/test_fanout.py",  # 9 s
    "tests/board/test_lounge_wait.py",  # 9 s
    "tests/notify/test_desk_alert_orderless_browser.py",  # 9 s
    "tests/kiosk/test_foreman_bay_taken.py",  # 8 s
    "tests/services/test_clock_provenance.py",  # 8 s
    "tests/test_postgres.py",  # 8 s
    "tests/services/test_reports_postgres.py",  # 8 s
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
