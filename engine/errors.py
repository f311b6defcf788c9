"""Errors a user or calling system can act on. Each carries a short code and a clear message."""
from __future__ import annotations


class CarePathError(Exception):
    code = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(CarePathError):
    code = "not_found"


class PermissionDenied(CarePathError):
    code = "forbidden"


class Conflict(CarePathError):
    """Someone else changed the same thing first; nothing of this request was applied."""
    code = "conflict"


class TaskNotOpen(Conflict):
    code = "task_not_open"


class InvalidInput(CarePathError):
    code = "invalid"


class FormInvalid(InvalidInput):
    """Submitted data does not satisfy the task's form. `fields` maps each field key to its
    messages (Chinese, naming the field's label); `fields_en` carries the same in English."""
    code = "form_invalid"

    def __init__(self, fields: dict[str, list[str]], fields_en: dict[str, list[str]] | None = None):
        listed = "；".join(f"{key}: {'，'.join(messages)}" for key, messages in fields.items())
        super().__init__(f"表单校验未通过 (form invalid): {listed}")
        self.fields = fields
        self.fields_en = fields_en or {}


class PathwayInvalid(CarePathError):
    """A pathway file failed validation; `problems` lists every finding."""
    code = "pathway_invalid"

    def __init__(self, message: str, problems=()):
        super().__init__(message)
        self.problems = list(problems)
