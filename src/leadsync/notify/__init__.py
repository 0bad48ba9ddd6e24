"""Notifications: JSON webhooks and Slack-compatible messages on MQL hand-off, SLA warning and breach.

Public API::

    notifier = notifier_from_settings(settings.notifications, dead_letter_path)  # None: nothing configured
    notifier.submit(mql_handoff(person_id, now, email=..., owner=...))        # never blocks
    notifier.close(timeout=10)                                                  # at shutdown
"""

from __future__ import annotations

from pathlib import Path

from leadsync.config.settings import NotificationSettings
from leadsync.notify.events import (
    Notification,
    NotificationKind,
    json_payload,
    mql_handoff,
    sla_breach,
    sla_warning,
    slack_payload,
)
from leadsync.notify.sender import DeadLetters, Endpoint, Notifier, SenderPolicy


def notifier_from_settings(settings: NotificationSettings, dead_letter_path: Path,
                           policy: SenderPolicy | None = None) -> Notifier | None:
    """A started notifier for the configured webhooks, or None when none is configured."""
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    endpoints = []
    if settings.webhook_url:
        endpoints.append(Endpoint("webhook", settings.webhook_url, "json", secret))
    if settings.slack_webhook_url:
        endpoints.append(Endpoint("slack", settings.slack_webhook_url, "slack"))
    if not endpoints:
        return None
    return Notifier(endpoints, DeadLetters(dead_letter_path), policy)


__all__ = [
    "DeadLetters",
    "Endpoint",
    "Notification",
    "NotificationKind",
    "Notifier",
    "SenderPolicy",
    "json_payload",
    "mql_handoff",
    "notifier_from_settings",
    "sla_breach",
    "sla_warning",
    "slack_payload",
]
