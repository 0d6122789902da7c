"""What the channel tests share: a message, and a channel built by the
registry from a local provider's environment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.config import Settings
from shared.notify.channel import Channel, Outgoing
from shared.notify.registry import channels_for

SETTINGS = Settings(database_url="sqlite://")
PARAMS = {"shop": "百灵汽修", "link": "https://shop.example/t/abc", "hotline": "021-5555"}


def outgoing(
    key: str = "1-7-3-order_received-sms",
    *,
    kind: str = "order_received",
    recipient: str = "13800138000",
    params: Mapping[str, str] = PARAMS,
    **extra: Any,
) -> Outgoing:
    return Outgoing(
        dedupe_key=key,
        kind=kind,
        locale=extra.pop("locale", "zh_Hans"),
        recipient=recipient,
        text=extra.pop("text", "百灵汽修：您的车已登记。进度 https://shop.example/t/abc"),
        subject=extra.pop("subject", "百灵汽修：车辆已登记"),
        params=params,
        link=extra.pop("link", "https://shop.example/t/abc"),
    )


def channel(
    name: str, environ: Mapping[str, str], shop_settings: Mapping[str, Any] | None = None
) -> Channel:
    found = channels_for(SETTINGS, shop_settings or {}, environ=environ)
    assert name in found, f"{name} channel not configured"
    return found[name]
