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
each file's cases), files of 8 s or more. Last measured on 2026-11-29 while
other work loaded the machine (load 7-8 on two cores; the run took 15 min):
the seconds are about twice a quiet run's, the order is what counts. One
exception: Schemathesis' cases of tests/test_fuzz_api.py share one node id
and a parallel run's report shows only one, so that file's figure comes
from runs of its own.
A file missing here runs after these in collection order, so a stale list
only costs time, never a test.
"""

from __future__ import annotations

import pytest

LONGEST_FIRST = (
    # One test function, 76 Schemathesis cases sharing its node id: the
    # parallel run's JUnit report shows one of them (16 s); the file alone
    # took 117 s and 203 s in two runs of its own on the loaded machine.
    "tests/test_fuzz_api.py",  # ~120 s
    "tests/test_cli.py",  # 90 s
    "tests/notify/test_notify_worker.py",  # 78 s
    "tests/test_bench_notify.py",  # 59 s
    "tests/test_accessibility_browser.py",  # 59 s
    "tests/e2e/test_revocation.py",  # 54 s
    "tests/test_first_run.py",  # 52 s
    "tests/test_async_modes.py",  # 51 s
    "tests/test_report_process.py",  # 49 s
    "tests/board/test_reports_page.py",  # 47 s
    "tests/kiosk/test_kiosk_browser.py",  # 45 s
    "tests/e2e/test_socket_properties.py",  # 44 s
    "tests/e2e/test_lan_origins.py",  # 39 s
    "tests/test_cross_shop.py",  # 38 s
    "tests/test_transport_limits.py",  # 38 s
    "tests/services/test_retention_year.py",  # 37 s
    "tests/kiosk/test_kiosk_cards_browser.py",  # 34 s
    "tests/board/test_desk_holds.py",  # 33 s
    "tests/board/test_recovery.py",  # 28 s
    "tests/services/test_reports.py",  # 27 s
    "tests/kiosk/test_group_reports.py",  # 26 s
    "tests/reception/test_customer_browser.py",  # 26 s
    "tests/e2e/test_reconnect_storm.py",  # 25 s
    "tests/test_request_input.py",  # 24 s
    "tests/board/test_holds_on_screens.py",  # 24 s
    "tests/test_transport_tuning.py",  # 23 s
    "tests/board/test_kiosk_holds.py",  # 23 s
    "tests/e2e/test_resume.py",  # 23 s
    "tests/e2e/test_api_errors.py",  # 23 s
    "tests/board/test_board_screen.py",  # 22 s
    "tests/board/test_lounge_screen.py",  # 22 s
    "tests/test_bench_reports.py",  # 21 s
    "tests/board/test_reports_appointments_browser.py",  # 21 s
    "tests/reception/test_desk_booking_browser.py",  # 20 s
    "tests/test_postgres.py",  # 20 s
    "tests/photos/test_photo_browser.py",  # 20 s
    "tests/kiosk/test_admin_staff_browser.py",  # 20 s
    "tests/board/test_lan_screen.py",  # 20 s
    "tests/reception/test_booking_page_browser.py",  # 20 s
    "tests/test_problem_language.py",  # 20 s
    "tests/reception/test_desk_privacy_browser.py",  # 20 s
    "tests/test_staff_login.py",  # 19 s
    "tests/test_first_run_browser.py",  # 19 s
    "tests/kiosk/test_pin_change_browser.py",  # 19 s
    "tests/services/test_report_days.py",  # 18 s
    "tests/board/test_screenshots.py",  # 18 s
    "tests/services/test_shop_history.py",  # 18 s
    "tests/test_bench_replan_past.py",  # 18 s
    "tests/domain/test_planner.py",  # 17 s
    "tests/board/test_board_arrivals_settings_browser.py",  # 16 s
    "tests/board/test_admin_shop_browser.py",  # 15 s
    "tests/test_demo.py",  # 15 s
    "tests/reception/test_desk_list_browser.py",  # 15 s
    "tests/services/test_bay_occupied.py",  # 14 s
    "tests/reception/test_desk_calls_browser.py",  # 14 s
    "tests/test_group_commit_durability.py",  # 14 s
    "tests/board/test_csp.py",  # 14 s
    "tests/board/test_board_live.py",  # 13 s
    "tests/photos/test_signatures.py",  # 13 s
    "tests/kiosk/test_foreman_console_browser.py",  # 13 s
    "tests/reception/test_ticket_browser.py",  # 13 s
    "tests/photos/test_photos.py",  # 13 s
    "tests/reception/test_sign_in_browser.py",  # 12 s
    "tests/reception/test_desk_notify_browser.py",  # 12 s
    "tests/test_i18n.py",  # 12 s
    "tests/kiosk/test_group_browser.py",  # 12 s
    "tests/notify/test_sender.py",  # 12 s
    "tests/reception/test_desk_comeback_browser.py",  # 12 s
    "tests/board/test_quotes_live.py",  # 12 s
    "tests/services/test_retention.py",  # 12 s
    "tests/kiosk/test_kiosk_refusal_language_browser.py",  # 11 s
    "tests/test_request_fuzz.py",  # 11 s
    "tests/test_demo_bays.py",  # 11 s
    "tests/kiosk/test_admin_screens_browser.py",  # 11 s
    "tests/test_serve_port.py",  # 10 s
    "tests/test_create_shop_cli.py",  # 10 s
    "tests/board/test_lounge_wait.py",  # 10 s
    "tests/test_api_comebacks.py",  # 10 s
    "tests/notify/test_sender_providers.py",  # 10 s
    "tests/kiosk/test_foreman_bookings_browser.py",  # 9 s
    "tests/reception/test_booking_link_by_phone_browser.py",  # 9 s
    "tests/domain/test_replay_stateful.py",  # 9 s
    "tests/test_socket_recheck.py",  # 9 s
    "tests/notify/test_desk_alert_orderless_browser.py",  # 9 s
    "tests/test_api_booking_link.py",  # 9 s
    "tests/reception/test_booking_form_limits_browser.py",  # 9 s
    "tests/kiosk/test_foreman_bookings_staff_change_browser.py",  # 8 s
    "tests/board/test_pairing_slow_down.py",  # 8 s
    "tests/reception/test_reception.py",  # 8 s
    "tests/services/test_concurrency.py",  # 8 s
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
