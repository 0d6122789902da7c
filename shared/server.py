"""Running the server: the app, tuned for many long-lived connections, and in
demo mode the seeded shop and the simulator."""

from __future__ import annotations

import logging
import os
import resource
import signal
import socket
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from shared.config import ConfigError, Settings, reachable_url
from shared.notify.sender import OutboxGauge, Sender, sender_in_serve
from shared.services import first_run, report_process
from shared.services.appointment_keeper import AppointmentKeeper
from shared.services.auth import PrincipalRefresher
from shared.services.core import Core
from shared.services.replanning import Replanner
from shared.services.report_cache import FactsRefresher
from shared.services.retention import RetentionTimer
from shared.services.timers import run_timers
from shared.web.app import create_app, raise_gc_threshold
from shared.web.connections import (
    REQUEST_TIMEOUT_SECONDS,
    eventlet_protocol,
    gevent_handler,
    werkzeug_handler,
    werkzeug_websocket,
)

if TYPE_CHECKING:
    from shared.demo.seed import Seeded

# eventlet's WSGI server serves at most 1,024 connections unless told otherwise.
EVENTLET_MAX_CONNECTIONS = 20_000


def _raise_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65_536
    if soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return soft


# eventlet's request handler keeps a 16 KiB write buffer and an 8 KiB read
# buffer for the whole life of every connection, and an open websocket keeps
# its connection for hours: a third of the memory per screen (measured with
# tracemalloc). Request heads and answers pass through 2 KiB buffers as well;
# larger writes and reads bypass the buffer.
EVENTLET_BUFFER_BYTES = 2048


def _eventlet_protocol() -> type:
    return eventlet_protocol(EVENTLET_BUFFER_BYTES)


def run_kwargs(mode: str) -> dict[str, Any]:
    """Server options per async mode. Each server gets a request handler
    that bounds how long a quiet client holds its connection and closes a
    connection whose body the app left unread (shared.web.connections)."""
    if mode == "eventlet":
        return {
            "max_size": EVENTLET_MAX_CONNECTIONS,
            "log_output": False,
            "protocol": _eventlet_protocol(),
            # eventlet's own timeouts: the wait for a request line (keepalive)
            # and every other read or write (socket_timeout); the handler
            # lengthens the latter for websockets.
            "keepalive": REQUEST_TIMEOUT_SECONDS,
            "socket_timeout": REQUEST_TIMEOUT_SECONDS,
        }
    if mode == "threading":
        return {"allow_unsafe_werkzeug": True, "request_handler": werkzeug_handler()}
    return {"log_output": False, "handler_class": gevent_handler()}


def screen_urls(base: str) -> list[tuple[str, str]]:
    """Every screen's address under ``base`` (scheme://host:port), to print."""
    return [
        ("workshop board", f"{base}/board"),
        ("waiting-lounge TV", f"{base}/lounge"),
        ("technician kiosk", f"{base}/kiosk"),
        ("foreman console", f"{base}/foreman"),
        ("reception desk", f"{base}/desk"),
        ("health", f"{base}/healthz"),
        ("metrics", f"{base}/metrics"),
        ("API document", f"{base}/api/v1/openapi.json"),
    ]


def demo_login_lines(base: str, seeded: Seeded) -> list[str]:
    """Every demo login, to print: office staff sign in at the demo shop's
    sign-in page with name and password, technicians on a paired kiosk with
    badge and PIN (``shared.demo.seed.Seeded``)."""
    lines = [f"Sign in at {base}/login?shop={seeded.shop_slug} (demo logins):"]
    lines += [f"  {login.role} login: {login.name} / {login.password}" for login in seeded.office]
    lines.append(f"Technicians sign in on a paired kiosk ({base}/kiosk) with badge / PIN:")
    lines += [
        f"  technician login: badge {login.badge} / PIN {login.pin}  {login.name}"
        for login in seeded.technicians
    ]
    return lines


def set_up_lines(core: Core, settings: Settings) -> list[str]:
    """The one-time set-up link of an empty installation (no shop has an
    admin: ``shared.services.first_run``), at the address a browser on the
    shop's network uses, and at the public address too when one is set;
    nothing once the installation is set up. A new link at every start."""
    if not first_run.is_empty(core):
        return []
    token = first_run.new_token(core)
    lines = [
        "Baylight is not set up yet. Open this link in a browser within an hour to create "
        "the shop and its administrator (it works once):",
        f"  set-up link: {first_run.link(settings.listen_url, token)}",
    ]
    if settings.public_url and settings.public_url != settings.listen_url:
        lines.append(f"  or, at the public address: {first_run.link(settings.public_url, token)}")
    return lines


NO_PUBLIC_URL_WARNING = (
    "warning: BAYLIGHT_PUBLIC_URL is not set. Customer links and QR codes use the address "
    "each page was opened with ({listen_url} for the simulator); phones outside the shop "
    "LAN cannot open them. Set BAYLIGHT_PUBLIC_URL to an address customers' phones can "
    "reach, e.g. https://service.example.com"
)


class PortTaken(ConfigError):
    """Another process listens on the address ``serve`` was asked to use."""


def claim_port(host: str, port: int) -> None:
    """Refuse to start when the port is taken, in every async mode.

    eventlet listens with SO_REUSEPORT, so a second ``serve`` on a busy port
    starts without error and the kernel splits the screens between two
    servers with different databases. A plain bind (no SO_REUSEPORT) fails
    while anything listens there; it is released again at once."""
    for family, kind, proto, _name, address in socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[:1]:
        probe = socket.socket(family, kind, proto)
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
        except OSError as taken:
            raise PortTaken(
                f"{host}:{port} is in use by another process ({taken.strerror})"
            ) from None
        finally:
            probe.close()


def _stop_with_the_worker(signum: int, _frame: object) -> None:
    """SIGTERM (systemd's stop, a test's ``terminate``): the report worker
    is killed first, then the server dies of the signal as it always did.
    Left to notice its parent gone by itself, the idle-class worker waited
    for the CPU on a busy machine and outlived the server by minutes."""
    report_process.end_workers_now()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def serve(settings: Settings, *, host: str, port: int, demo: bool) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # Read first: a bad value stops the start before anything is bound.
    send_notifications = sender_in_serve()
    claim_port(host, port)
    # Printed URLs and links made outside a request use the address a screen
    # on the shop's network would type, never 0.0.0.0.
    settings = replace(settings, listen_url=reachable_url(host, port))
    if not settings.public_url:
        print(NO_PUBLIC_URL_WARNING.format(listen_url=settings.listen_url), file=sys.stderr)
    app, socketio = create_app(settings)
    core = app.extensions["baylight"]
    socketio.start_background_task(run_timers, core, socketio.sleep)
    # Customer-data retention: shortly after start, then daily at each shop's quiet hour.
    socketio.start_background_task(RetentionTimer(core, socketio.sleep).run)
    # The worker process for reports and shop plans, started now rather
    # than by the first report (which would otherwise wait a second for a
    # process to start and import); the plans are computed there when it is.
    worker = report_process.worker_for(core) if settings.report_worker_at_start else None
    if worker is not None:
        socketio.start_background_task(worker.warm)
    signal.signal(signal.SIGTERM, _stop_with_the_worker)
    replanner = Replanner(core, socketio.sleep, worker=worker)
    core.change_listeners.append(replanner.mark)
    socketio.start_background_task(replanner.run)
    # The API and device tokens in use, checked again in one batch before
    # their cached principal expires (a busy token costs no lookup of its own).
    socketio.start_background_task(PrincipalRefresher(core, socketio.sleep).run)
    # The reports' facts of closed orders, stored off the request path (read
    # in the worker when there is one).
    socketio.start_background_task(FactsRefresher(core, socketio.sleep, worker=worker).run)
    # Appointments: no-shows after the grace period, reminders into the outbox.
    socketio.start_background_task(AppointmentKeeper(core, socketio.sleep).run)
    # Customers' messages from the outbox, unless a notify-worker sends them
    # (BAYLIGHT_NOTIFY_SENDER=off); /metrics counts the outbox either way.
    gauge = OutboxGauge(core, socketio.sleep)
    core.change_listeners.append(gauge.mark)
    socketio.start_background_task(gauge.run)
    if send_notifications:
        socketio.start_background_task(Sender(core, socketio.sleep, changed=gauge.mark).run)
    if demo:
        from shared.demo.seed import seed_demo
        from shared.demo.simulator import Simulator

        seeded = seed_demo(core)
        socketio.start_background_task(Simulator(core, socketio.sleep).run)
        base = settings.listen_url
        print(f"Baylight demo shop '{seeded.shop_name}' on {base}", flush=True)
        for label, url in screen_urls(base):
            print(f"  {label:<18} {url}", flush=True)
        print(
            "Pair a screen: open it, then run  .venv/bin/baylight pair CODE "
            "--kind board|lounge|kiosk --name NAME --shop demo",
            flush=True,
        )
        print(f"  admin token: {seeded.admin_token}", flush=True)
        for line in demo_login_lines(base, seeded):
            print(line, flush=True)
    # After the demo's seed (which makes an admin): an empty installation
    # is set up from the browser, through a one-time link.
    for line in set_up_lines(core, settings):
        print(line, flush=True)
    limit = _raise_file_limit()
    raise_gc_threshold()
    bound = f"http://{host}:{port}"
    reached = "" if bound == settings.listen_url else f", reached as {settings.listen_url}"
    print(
        f"serving on {bound}{reached} (async mode {settings.async_mode}, file limit {limit})",
        file=sys.stderr,
        flush=True,
    )
    if settings.async_mode == "eventlet":
        serve_eventlet(app.wsgi_app, host, port)
    else:
        if settings.async_mode == "threading":
            # Engine.IO's table of the mode's classes, with a websocket that
            # answers a client's close before werkzeug closes the connection.
            eio = socketio.server.eio
            eio._async = {**eio._async, "websocket": werkzeug_websocket()}
        socketio.run(app, host=host, port=port, **run_kwargs(settings.async_mode))


# Connections the kernel holds for us while the server is busy. eventlet's
# default of 50 drops the rest of a reconnect storm (every screen at once
# after a restart): their clients back off for seconds. The kernel caps it
# at net.core.somaxconn.
LISTEN_BACKLOG = 2048


def serve_eventlet(site: Any, host: str, port: int) -> None:
    """What ``SocketIO.run`` does under eventlet, with two differences: the
    listening socket's backlog is ``LISTEN_BACKLOG`` (``run`` offers no way
    to pass one), and eventlet calls the app's WSGI function (the gateway,
    ``shared.web.app``) rather than the Flask object. Calling an object
    costs each websocket's green thread one more level of saved C stack for
    the connection's life; the gateway is what the Flask object would call.
    """
    import eventlet
    import eventlet.green.socket
    import eventlet.wsgi

    addresses = eventlet.green.socket.getaddrinfo(host, port)
    if not addresses:
        raise ConfigError(f"cannot resolve {host} to an address to listen on")
    family, *_, address = addresses[0]
    listener = eventlet.listen(address, family, backlog=LISTEN_BACKLOG)
    eventlet.wsgi.server(listener, site, **run_kwargs("eventlet"))
