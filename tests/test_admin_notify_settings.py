"""The shop's notification settings over REST (issue 17): which messages are
loud, the quiet hours, the daily cap, and the providers' settings whose
credentials are write-only.

Real app, real SQLite. A refused change writes nothing (the profile, its
version and the stored settings are as before); a credential is stored for
the channels to use but never returned by GET or PATCH, never in a stale
save's 409, and never in the audit log, which records only that it changed;
a save on an old profile version is refused with 409.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from shared.persistence.models import AdminEvent
from shared.persistence.models import Shop as ShopRow
from shared.web.openapi import document
from tests.conftest import Shop
from tests.test_openapi import Api

ALIYUN_ID = "LTAI5tAliyunKeyId0001"
ALIYUN_SECRET = "AliyunSecret-VeryPrivate-0001"
WECHAT_SECRET = "wechat-secret-0123456789abcdef"
SMTP_URL = "smtps://service%40example.com:Mail-Pass-77@smtp.example.com:465"
SECRETS = (ALIYUN_ID, ALIYUN_SECRET, WECHAT_SECRET, SMTP_URL, "Mail-Pass-77")


def profile(client: Any, shop: Shop) -> dict[str, Any]:
    reply = client.get("/api/v1/shop", headers=shop.headers("admin"))
    assert reply.status_code == 200
    return dict(reply.get_json())


def patch_shop(client: Any, shop: Shop, body: dict[str, Any], key: str | None = None) -> Any:
    return client.patch("/api/v1/shop", json=body, headers=shop.headers("admin", key=key))


def stored(shop: Shop) -> dict[str, Any]:
    with shop.core.db.read() as session:
        row = session.get(ShopRow, shop.shop_id)
        assert row is not None
        return dict(row.settings or {})


def audit_rows(shop: Shop) -> list[dict[str, Any]]:
    with shop.core.db.read() as session:
        rows = session.execute(
            select(AdminEvent.kind, AdminEvent.data)
            .where(AdminEvent.shop_id == shop.shop_id)
            .order_by(AdminEvent.id)
        ).all()
    return [{"kind": kind, "data": data} for kind, data in rows]


def everything_in(shop: Shop, table: str) -> str:
    """Every value of every row of ``table``, as the database holds it."""
    with shop.core.db.read() as session:
        rows = session.execute(text(f"SELECT * FROM {table}")).all()
    return json.dumps([list(map(str, row)) for row in rows], ensure_ascii=False)


def everything_in_the_audit(shop: Shop) -> str:
    return everything_in(shop, "admin_event")


def assert_no_secret(where: str, what: str) -> None:
    for secret in SECRETS:
        assert secret not in what, f"a credential in {where}"


def test_the_notify_settings_read_with_their_defaults_and_change_part_by_part(
    client: Any, shop: Shop
) -> None:
    api = Api(client, document())
    first = api.call("getShop", headers=shop.headers("admin"), expect=200).get_json()
    assert first["notify"] == {
        "kinds": {
            "order_received": True,
            "quote_waiting": True,
            "promise_changed": True,
            "ready_for_pickup": True,
            "survey": True,
        },
        "quiet_hours": {"start": "21:00", "end": "08:00"},
        "max_per_order_per_day": 5,
        "templates": {},
    }
    assert first["notify_providers"]["sms"] == {
        "provider": "",
        "sign_name": "",
        "app_id": "",
        "region": "",
        "templates": {},
        "access_key_id": {"set": False},
        "access_key_secret": {"set": False},
        "secret_id": {"set": False},
        "secret_key": {"set": False},
    }
    saved = api.call(
        "updateShop",
        body={
            "version": 0,
            "notify": {
                "kinds": {"survey": False, "order_received": True},
                "quiet_hours": {"start": "22:00", "end": "07:30"},
                "max_per_order_per_day": 3,
            },
        },
        headers=shop.headers("admin", key="notify-1"),
        expect=200,
    ).get_json()
    assert saved["version"] == 1
    assert saved["notify"]["kinds"]["survey"] is False
    assert saved["notify"]["kinds"]["ready_for_pickup"] is True
    assert saved["notify"]["quiet_hours"] == {"start": "22:00", "end": "07:30"}
    assert saved["notify"]["max_per_order_per_day"] == 3
    # Only the part sent changes: the cap alone leaves kinds and quiet hours.
    again = patch_shop(client, shop, {"version": 1, "notify": {"max_per_order_per_day": 9}})
    assert again.status_code == 200, again.get_json()
    now = profile(client, shop)
    assert now["notify"]["max_per_order_per_day"] == 9
    assert now["notify"]["kinds"]["survey"] is False
    assert now["notify"]["quiet_hours"] == {"start": "22:00", "end": "07:30"}
    assert stored(shop)["notify"]["kinds"] == {"survey": False, "order_received": True}
    # The shop's own words for a kind, checked by the texts' rules.
    worded = patch_shop(
        client,
        shop,
        {
            "version": 2,
            "notify": {"templates": {"ready_for_pickup": {"en": "{shop}: ready. {link}"}}},
        },
    )
    assert worded.status_code == 200, worded.get_json()
    assert worded.get_json()["notify"]["templates"] == {
        "ready_for_pickup": {"en": "{shop}: ready. {link}"}
    }
    assert worded.get_json()["notify"]["max_per_order_per_day"] == 9
    # The audit names the change of the notification settings.
    last = audit_rows(shop)[-1]
    assert last["kind"] == "shop_changed"
    assert last["data"]["changes"]["notify"]["new"]["templates"] == {
        "ready_for_pickup": {"en": "{shop}: ready. {link}"}
    }


# Bad input and the field each refusal must name (a prefix of it).
BAD: list[tuple[dict[str, Any], str]] = [
    ({"notify": {"loudness": 3}}, "notify.loudness"),
    ({"notify": {"kinds": {"order_received": "yes"}}}, "notify.kinds"),
    ({"notify": {"kinds": {"one_off": False}}}, "notify.kinds"),
    ({"notify": {"quiet_hours": {"start": "9pm", "end": "08:00"}}}, "notify.quiet_hours"),
    ({"notify": {"quiet_hours": {"start": "21:00"}}}, "notify.quiet_hours"),
    ({"notify": {"max_per_order_per_day": 0}}, "notify.max_per_order_per_day"),
    ({"notify": {"max_per_order_per_day": 51}}, "notify.max_per_order_per_day"),
    ({"notify": {"max_per_order_per_day": True}}, "notify.max_per_order_per_day"),
    ({"notify": "loud"}, "notify"),
    ({"notify": {"templates": {"survey": {"en": "Hello {name}"}}}}, "notify.templates"),
    ({"notify": {"templates": {"survey": {"fr": "Bonjour"}}}}, "notify.templates"),
    ({"notify": {"templates": {"survey": {"en": "x" * 501}}}}, "notify.templates"),
    ({"notify_providers": {"fax": {}}}, "notify_providers.fax"),
    ({"notify_providers": {"sms": "aliyun"}}, "notify_providers.sms"),
    ({"notify_providers": {"sms": {"provider": "twilio"}}}, "notify_providers.sms.provider"),
    ({"notify_providers": {"sms": {"sign_name": "某某汽车"}}}, "notify_providers.sms.provider"),
    (
        {"notify_providers": {"sms": {"provider": "aliyun", "access_key_secret": "a b"}}},
        "notify_providers.sms.access_key_secret",
    ),
    (
        {"notify_providers": {"sms": {"provider": "aliyun", "access_key_id": 12345}}},
        "notify_providers.sms.access_key_id",
    ),
    (
        {"notify_providers": {"sms": {"provider": "aliyun", "password": "x"}}},
        "notify_providers.sms.password",
    ),
    (
        {"notify_providers": {"sms": {"provider": "aliyun", "templates": {"spam": "SMS_1"}}}},
        "notify_providers.sms.templates.spam",
    ),
    (
        {
            "notify_providers": {
                "sms": {"provider": "aliyun", "templates": {"ready_for_pickup": "SMS 1"}}
            }
        },
        "notify_providers.sms.templates.ready_for_pickup",
    ),
    (
        {"notify_providers": {"email": {"smtp_url": "http://mail.example.com"}}},
        "notify_providers.email.smtp_url",
    ),
    (
        {"notify_providers": {"email": {"mail_from": "a@b.c\r\nBcc: x@y.z"}}},
        "notify_providers.email.mail_from",
    ),
    (
        {"notify_providers": {"email": {"mail_from": "not an address"}}},
        "notify_providers.email.mail_from",
    ),
    (
        {"notify_providers": {"wechat": {"app_secret": "x" * 201}}},
        "notify_providers.wechat.app_secret",
    ),
]


def test_refused_settings_change_nothing(client: Any, shop: Shop) -> None:
    before = stored(shop)
    audited = audit_rows(shop)
    for body, field in BAD:
        # A valid change sent with the bad one is not written either.
        reply = patch_shop(client, shop, {"version": 0, "hotline": "400-999", **body})
        assert reply.status_code == 422, (body, reply.get_json())
        problem = reply.get_json()
        assert problem["code"] == "validation_error"
        assert problem["field"].startswith(field), (body, problem)
    now = profile(client, shop)
    assert now["version"] == 0 and now["hotline"] != "400-999"
    assert stored(shop) == before
    assert audit_rows(shop) == audited


def providers_body() -> dict[str, Any]:
    return {
        "sms": {
            "provider": "aliyun",
            "sign_name": "湾光汽车",
            "access_key_id": ALIYUN_ID,
            "access_key_secret": ALIYUN_SECRET,
            "templates": {"ready_for_pickup": "SMS_465880001", "one_off": "SMS_465880009"},
        },
        "wechat": {"app_id": "wx0123456789abcdef", "app_secret": WECHAT_SECRET},
        "email": {"smtp_url": SMTP_URL, "mail_from": "湾光汽车 <service@example.com>"},
    }


def test_credentials_are_write_only_and_audited_by_name_alone(client: Any, shop: Shop) -> None:
    api = Api(client, document())
    reply = api.call(
        "updateShop",
        body={"version": 0, "notify_providers": providers_body()},
        headers=shop.headers("admin", key="providers-1"),
        expect=200,
    )
    assert_no_secret("the PATCH answer", reply.get_data(as_text=True))
    shown = reply.get_json()["notify_providers"]
    assert shown["sms"]["provider"] == "aliyun"
    assert shown["sms"]["sign_name"] == "湾光汽车"
    assert shown["sms"]["access_key_id"] == {"set": True}
    assert shown["sms"]["access_key_secret"] == {"set": True}
    assert shown["sms"]["secret_key"] == {"set": False}
    assert shown["sms"]["templates"] == {
        "ready_for_pickup": "SMS_465880001",
        "one_off": "SMS_465880009",
    }
    assert shown["wechat"] == {
        "app_id": "wx0123456789abcdef",
        "templates": {},
        "app_secret": {"set": True},
    }
    assert shown["email"] == {
        "mail_from": "湾光汽车 <service@example.com>",
        "smtp_url": {"set": True},
    }
    got = client.get("/api/v1/shop", headers=shop.headers("admin"))
    assert_no_secret("GET /api/v1/shop", got.get_data(as_text=True))
    assert got.get_json()["notify_providers"] == shown
    # Stored for the channels to use.
    providers = stored(shop)["notify_providers"]
    assert providers["sms"]["access_key_secret"] == ALIYUN_SECRET
    assert providers["email"]["smtp_url"] == SMTP_URL

    # The audit says which credentials changed, never a value.
    last = audit_rows(shop)[-1]
    assert last["kind"] == "shop_changed"
    assert sorted(last["data"]["changes"]["notify_credentials"]["changed"]) == [
        "email.smtp_url",
        "sms.access_key_id",
        "sms.access_key_secret",
        "wechat.app_secret",
    ]
    assert_no_secret("the audit log", everything_in_the_audit(shop))
    # Nor in the stored first answer a retry under the same key gets.
    assert_no_secret("the idempotency records", everything_in(shop, "idempotency_record"))
    listed = client.get("/api/v1/audit", headers=shop.headers("admin"))
    assert listed.status_code == 200
    assert_no_secret("GET /api/v1/audit", listed.get_data(as_text=True))

    # A new secret replacing the old one is a change the audit records by name.
    renewed = patch_shop(
        client,
        shop,
        {"version": 1, "notify_providers": {"sms": {"access_key_secret": "Rotated-Secret-2"}}},
    )
    assert renewed.status_code == 200
    assert "Rotated-Secret-2" not in renewed.get_data(as_text=True)
    assert renewed.get_json()["version"] == 2
    assert audit_rows(shop)[-1]["data"]["changes"] == {
        "notify_credentials": {"changed": ["sms.access_key_secret"]}
    }
    assert "Rotated-Secret-2" not in everything_in_the_audit(shop)
    assert stored(shop)["notify_providers"]["sms"]["access_key_id"] == ALIYUN_ID

    # Saved as it is (the secret left out): nothing changes, nothing is recorded.
    count = len(audit_rows(shop))
    unchanged = {"version": 2, "notify_providers": {"sms": {"provider": "aliyun"}}}
    same = patch_shop(client, shop, unchanged)
    assert same.status_code == 200 and same.get_json()["version"] == 2
    assert len(audit_rows(shop)) == count

    # Empty removes a credential; null removes a channel.
    removed = patch_shop(
        client,
        shop,
        {"version": 2, "notify_providers": {"wechat": {"app_secret": ""}, "email": None}},
    )
    assert removed.status_code == 200, removed.get_json()
    after = removed.get_json()["notify_providers"]
    assert after["wechat"]["app_secret"] == {"set": False}
    assert after["wechat"]["app_id"] == "wx0123456789abcdef"
    assert after["email"] == {"mail_from": "", "smtp_url": {"set": False}}
    assert "email" not in stored(shop)["notify_providers"]
    assert sorted(audit_rows(shop)[-1]["data"]["changes"]["notify_credentials"]["changed"]) == [
        "email.smtp_url",
        "wechat.app_secret",
    ]


def test_a_save_on_an_old_version_is_refused_with_the_profile_now(client: Any, shop: Shop) -> None:
    first = patch_shop(
        client, shop, {"version": 0, "notify_providers": providers_body()}, key="first"
    )
    assert first.status_code == 200
    late = patch_shop(
        client,
        shop,
        {
            "version": 0,
            "notify": {"max_per_order_per_day": 2},
            "notify_providers": {"sms": {"access_key_secret": "Late-Secret-3"}},
        },
        key="late",
    )
    assert late.status_code == 409
    problem = late.get_json()
    assert problem["code"] == "stale_version"
    assert problem["shop"]["version"] == 1
    assert problem["shop"]["notify_providers"]["sms"]["access_key_secret"] == {"set": True}
    assert_no_secret("the 409", late.get_data(as_text=True))
    assert "Late-Secret-3" not in late.get_data(as_text=True)
    assert stored(shop)["notify_providers"]["sms"]["access_key_secret"] == ALIYUN_SECRET
    assert profile(client, shop)["notify"]["max_per_order_per_day"] == 5


def test_the_notify_settings_are_for_admins_and_managers(client: Any, shop: Shop) -> None:
    for role in ("advisor", "foreman", "technician"):
        refused = client.patch(
            "/api/v1/shop",
            json={"version": 0, "notify": {"max_per_order_per_day": 1}},
            headers=shop.headers(role),
        )
        assert refused.status_code == 403
    assert "notify" not in stored(shop)


_leaf = st.none() | st.booleans() | st.integers(-5, 60) | st.text(max_size=12)
_json = st.recursive(
    _leaf,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "sms",
                    "wechat",
                    "email",
                    "fax",
                    "provider",
                    "aliyun",
                    "sign_name",
                    "templates",
                    "access_key_secret",
                    "smtp_url",
                    "mail_from",
                    "kinds",
                    "survey",
                    "quiet_hours",
                    "start",
                    "end",
                    "max_per_order_per_day",
                    "en",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(notify=_json, providers=_json)
def test_any_settings_body_is_saved_or_refused_by_name_never_half_written(
    client: Any, shop: Shop, notify: Any, providers: Any
) -> None:
    """Whatever a client sends as notify and notify_providers, the answer is
    the profile (200) or a refusal naming a field (422), and a refusal
    writes nothing."""
    before = stored(shop)
    version = profile(client, shop)["version"]
    body: dict[str, Any] = {"version": version, "notify": notify, "notify_providers": providers}
    reply = patch_shop(client, shop, body)
    assert reply.status_code in (200, 422), (body, reply.get_data(as_text=True))
    if reply.status_code == 422:
        assert reply.get_json()["field"], reply.get_json()
        assert stored(shop) == before
    else:
        assert reply.get_json()["notify"] == profile(client, shop)["notify"]


@pytest.mark.parametrize(
    ("url", "saved"),
    [
        ("smtp://relay.example.com:25", True),
        ("smtp+starttls://a%40example.com:Pw-1@smtp.example.com:587", True),
        ("smtps://a%40example.com:Pw-1@smtp.example.com:465", True),
        ("http://smtp.example.com", False),
        ("smtp://", False),
    ],
)
def test_every_mail_server_form_the_channel_takes_is_saved(
    client: Any, shop: Shop, url: str, saved: bool
) -> None:
    """The shop may give each form the e-mail channel understands
    (shared/notify/email.py), and nothing else."""
    body = {"version": 0, "notify_providers": {"email": {"smtp_url": url}}}
    reply = patch_shop(client, shop, body)
    assert reply.status_code == (200 if saved else 422), reply.get_json()
    if saved:
        assert stored(shop)["notify_providers"]["email"]["smtp_url"] == url
    else:
        assert reply.get_json()["field"] == "notify_providers.email.smtp_url"
        assert "notify_providers" not in stored(shop)
