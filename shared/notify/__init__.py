"""Telling customers: channel adapters (SMS, WeChat, e-mail) and the sender
that drains the outbox (docs/NOTIFICATIONS.md)."""
