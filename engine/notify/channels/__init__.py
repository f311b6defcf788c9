"""Outbound channels. Each sends one message and raises `DeliveryFailed` when the remote did not
accept it; nothing here touches the database."""
from __future__ import annotations

from ...settings import Settings

CHANNELS = ("webhook", "email")


class DeliveryFailed(Exception):
    """The remote did not accept the message. `unreachable` means the destination could not be
    reached at all (connection refused, timeout), so other messages to it can wait too."""

    def __init__(self, message: str, unreachable: bool = False):
        super().__init__(message)
        self.message = message
        self.unreachable = unreachable


def enabled_channels(settings: Settings) -> tuple[str, ...]:
    """Channels this deployment can send on: email only when an SMTP host is configured."""
    return CHANNELS if settings.smtp_host else ("webhook",)
