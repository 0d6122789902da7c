"""Settings from the environment (names fixed by CONTRACT.md)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
ASYNC_MODES = ("eventlet", "gevent", "threading")
LOCALES = ("zh_Hans", "zh_Hant", "en")


class ConfigError(ValueError):
    """A setting has a value Baylight cannot run with."""


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
    public_url: str = "http://127.0.0.1:5000"
    async_mode: str = "eventlet"
    default_locale: str = "zh_Hans"
    instance_path: Path = INSTANCE
    testing: bool = False
    max_body_bytes: int = 64 * 1024
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = dict(os.environ if environ is None else environ)
        instance = Path(env.get("BAYLIGHT_INSTANCE_PATH", str(INSTANCE)))
        settings = cls(
            database_url=env.get("BAYLIGHT_DATABASE_URL")
            or f"sqlite:///{instance / 'baylight.db'}",
            message_queue=env.get("BAYLIGHT_MESSAGE_QUEUE", ""),
            secret_key=env.get("BAYLIGHT_SECRET_KEY", ""),
            public_url=env.get("BAYLIGHT_PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/"),
            async_mode=env.get("BAYLIGHT_ASYNC_MODE", "eventlet") or "eventlet",
            default_locale=env.get("BAYLIGHT_DEFAULT_LOCALE", "zh_Hans") or "zh_Hans",
            instance_path=instance,
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
        if not self.public_url.startswith(("http://", "https://")):
            raise ConfigError("BAYLIGHT_PUBLIC_URL must start with http:// or https://")
