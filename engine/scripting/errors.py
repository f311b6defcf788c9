"""Errors raised by the CarePath script sandbox, and the validator's :class:`Problem`.

Every failure of a pathway script (syntax, refused construct, time or size
limit, ordinary runtime error) is a :class:`ScriptError` carrying ``line`` (1-based
line in the script, None when unknown) and a message naming what was refused;
``str(err)`` appends `` (line N)``.
"""
from __future__ import annotations

from dataclasses import dataclass


class ScriptError(Exception):
    """Base of every error raised for a pathway script; ``line`` is 1-based or None."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"{self.message} (line {self.line})" if self.line else self.message

    def __reduce__(self) -> tuple[type[ScriptError], tuple[str, int | None]]:
        return (self.__class__, (self.message, self.line))


class ScriptSyntaxError(ScriptError, SyntaxError):
    """The source is not valid Python (also a SyntaxError, as SpiffWorkflow's DMN engine expects)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message, line)
        self.msg, self.lineno = message, line


class ScriptSecurityError(ScriptError):
    """The source uses a construct, name or attribute the sandbox refuses."""


class ScriptTimeout(ScriptError):
    """The script ran longer than the environment's time limit."""


class ScriptLimitError(ScriptError):
    """A size limit (range length, repetition, big integers, recursion ...) was hit."""


class ScriptRuntimeError(ScriptError):
    """An ordinary error raised while running the script (KeyError, ZeroDivisionError ...).

    The original exception is ``__cause__``.
    """


class ScriptNameError(ScriptRuntimeError, NameError):
    """An undefined name; also a NameError so SpiffWorkflow adds "did you mean"."""


class ScriptOverwriteError(ScriptError, ValueError):
    """Task data would shadow a helper function (SpiffWorkflow's check_for_overwrite)."""


@dataclass(frozen=True)
class Problem:
    """One static finding for the validator (``FILE:LINE: ELEMENT_ID: message``)."""

    line: int | None
    message: str
    kind: type[ScriptError] = ScriptSecurityError
    column: int | None = None  # 1-based, where known

    def to_error(self) -> ScriptError:
        """The exception that running the faulty source would raise."""
        return self.kind(self.message, self.line)
