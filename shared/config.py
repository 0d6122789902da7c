"""Settings from the environment (the names are public: operators' files depend on them)."""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
ASYNC_MODES = ("eventlet", "gevent", "threading")
LOCALES = ("zh_Hans", "zh_Hant", "en")


class ConfigError(ValueError):
    """A setting has a value Baylight cannot run with."""


DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """The Web origin of an http(s) URL as a browser writes it in ``Origin``:
    lower-case scheme and host, the port only when it is not the scheme's
    default. Comparing these, not raw strings, lets ``HTTPS://Shop:443`` in a
    setting match the ``https://shop`` a browser sends. ValueError when
    ``url`` has no http(s) scheme or no host."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port  # ValueError for a port that is not a number in range
    if scheme not in DEFAULT_PORTS or not host:
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def _origin_setting(value: str) -> str:
    """One entry of BAYLIGHT_ALLOWED_ORIGINS, normalised; ConfigError unless it
    is exactly ``scheme://host[:port]``. A wildcard is refused outright: it
    would let any web page a staff member visits drive their live screens."""
    text = value.strip()
    problem = f"BAYLIGHT_ALLOWED_ORIGINS: {text!r} is not an origin (scheme://host[:port])"
    if "*" in text:
        raise ConfigError(f"{problem}; wildcards are never accepted")
    try:
        origin = origin_of(text)
    except ValueError:
        raise ConfigError(problem) from None
    if any(mark in text.split("://", 1)[-1] for mark in "/?#@"):
        raise ConfigError(f"{problem}: no path, query or user")
    return origin


# TEST-NET-1 (RFC 5737): an address no packet is ever sent to. Connecting a
# UDP socket to it only asks the kernel which source address its route uses.
ROUTE_PROBE = ("192.0.2.1", 9)


def lan_address() -> str | None:
    """This machine's IPv4 address on its default route, found without any
    network traffic (a UDP ``connect`` sends nothing); None when there is no
    such route or it is the loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(ROUTE_PROBE)
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    found = ipaddress.ip_address(address)
    if found.is_loopback or found.is_unspecified:
        return None
    return address


def _is_wildcard(host: str) -> bool:
    """True for a bind to every interface (0.0.0.0, ::, or no host at all)."""
    if not host:
        return True
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def reachable_url(host: str, port: int) -> str:
    """The URL under which ``baylight serve --host HOST --port PORT`` can be
    opened: a wildcard bind becomes this machine's LAN address (what a phone
    or TV in the shop would type), 127.0.0.1 when there is none."""
    if _is_wildcard(host):
        host = lan_address() or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _switch(env: dict[str, str], name: str, default: bool = True) -> bool:
    """An on/off setting: on, off or unset (the default); anything else is refused."""
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value not in ("on", "off"):
        raise ConfigError(f"{name} must be on or off")
    return value == "on"


def _secret_key(instance: Path) -> str:
    """A stable random key per installation when none is configured, so that
    sessions survive restarts without anyone having to invent a secret."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


@dataclass(frozen=True)
class Settings:
    database_url: str
    message_queue: str = ""
    secret_key: str = ""
    # The configured BAYLIGHT_PUBLIC_URL, "" when unset: unset, links are
    # built from the address a page was reached by (shared.services.links).
    public_url: str = ""
    allowed_origins: tuple[str, ...] = ()
    # Where ``baylight serve`` can be reached from the shop's network; links
    # made outside any request (the simulator) use it when public_url is unset.
    listen_url: str = "http://127.0.0.1:5000"
    async_mode: str = "eventlet"
    default_locale: str = "zh_Hans"
    instance_path: Path = INSTANCE
    testing: bool = False
    max_body_bytes: int = 64 * 1024
    # BAYLIGHT_REPLANNING=off stops the shop-load engine's background
    # re-planning (ETAs then move only with their own order's commands): for
    # measuring what the engine costs, or for an operator chasing a fault.
    replanning: bool = True
    # BAYLIGHT_REPORT_WORKER_AT_START=off starts the report worker process
    # with the first report instead of with ``serve`` (the test suite's many
    # short-lived servers; a shop's server keeps the default).
    report_worker_at_start: bool = True

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = dict(os.environ if environ is None else environ)
        instance = Path(env.get("BAYLIGHT_INSTANCE_PATH", str(INSTANCE)))
        settings = cls(
            database_url=env.get("BAYLIGHT_DATABASE_URL")
            or f"sqlite:///{instance / 'baylight.db'}",
            message_queue=env.get("BAYLIGHT_MESSAGE_QUEUE", ""),
            secret_key=env.get("BAYLIGHT_SECRET_KEY", ""),
            public_url=env.get("BAYLIGHT_PUBLIC_URL", "").strip().rstrip("/"),
            allowed_origins=tuple(
                item.strip()
                for item in env.get("BAYLIGHT_ALLOWED_ORIGINS", "").split(",")
                if item.strip()
            ),
            async_mode=env.get("BAYLIGHT_ASYNC_MODE", "eventlet") or "eventlet",
            default_locale=env.get("BAYLIGHT_DEFAULT_LOCALE", "zh_Hans") or "zh_Hans",
            instance_path=instance,
            replanning=_switch(env, "BAYLIGHT_REPLANNING"),
            report_worker_at_start=_switch(env, "BAYLIGHT_REPORT_WORKER_AT_START"),
        )
        settings = replace(settings, **overrides)
        settings.validate()
        if not settings.secret_key:
            settings = replace(settings, secret_key=_secret_key(settings.instance_path))
        return settings

    def validate(self) -> None:
        if self.async_mode not in ASYNC_MODES:
            raise ConfigError(f"BAYLIGHT_ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}")
        if self.default_locale not in LOCALES:
            raise ConfigError(f"BAYLIGHT_DEFAULT_LOCALE must be one of {', '.join(LOCALES)}")
        if self.message_queue and not self.message_queue.startswith(("redis://", "rediss://")):
            raise ConfigError("BAYLIGHT_MESSAGE_QUEUE must be a redis:// URL or empty")
        if self.public_url:
            try:
                origin_of(self.public_url)
            except ValueError:
                raise ConfigError(
                    "BAYLIGHT_PUBLIC_URL must be an http:// or https:// URL with a host"
                ) from None
        for origin in self.allowed_origins:
            _origin_setting(origin)

    @property
    def public_https(self) -> bool:
        """The configured public URL is https: only then are cookies marked
        Secure and HSTS sent (a plain-http shop LAN must keep its sessions)."""
        return bool(self.public_url) and origin_of(self.public_url).startswith("https://")

    @property
    def origins(self) -> frozenset[str]:
        """The configured origins whose pages may open live connections here,
        besides a page's own origin: the public URL's and the allowed ones."""
        found = {_origin_setting(origin) for origin in self.allowed_origins}
        if self.public_url:
            found.add(origin_of(self.public_url))
        return frozenset(found)
