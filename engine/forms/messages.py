"""Bilingual messages of form validation: Chinese text carrying its English in `.en`, and the
FormInvalid they make."""
from __future__ import annotations

from typing import Any

from ..errors import FormInvalid


class Msg(str):
    """A Chinese message carrying its English text in `.en`; marshmallow keeps it unchanged."""
    en: str

    def __new__(cls, zh: str, en: str) -> Msg:
        message = super().__new__(cls, zh)
        message.en = en
        return message

    def format(self, *args: Any, **kwargs: Any) -> Msg:      # marshmallow formats field messages
        return self


def _msg(label: str, zh: str, en: str) -> Msg:
    return Msg(f"{label}: {zh}", f"{label}: {en}")


def _invalid(messages: dict[str, list[Msg]]) -> FormInvalid:
    return FormInvalid({key: [str(m) for m in found] for key, found in messages.items()},
                       {key: [m.en for m in found] for key, found in messages.items()})


def _add(errors: dict, name: str, message: Msg) -> None:
    found = errors.setdefault(name, [])
    if message not in found:
        found.append(message)
