"""What a task's submission is checked against, and the check.

* A task with `camunda:formKey` is checked against that form as deployed with its pathway
  version (forms are versioned with the pathway, so a running instance keeps its forms).
* A task without a form file accepts only the variables it declares (`camunda:formData`).
* A task that declares nothing accepts no data at all.

Validators are built once per (version, form) and cached: forms of a version never change.
"""
from __future__ import annotations

from threading import Lock

from ..forms import FormValidator
from ..store import pathways as pathway_repo


class FormCache:
    """Validators per (pathway version id, form key)."""

    def __init__(self, capacity: int = 512):
        self._capacity = capacity
        self._validators: dict[tuple[int, str], FormValidator] = {}
        self._lock = Lock()

    def get(self, version_id: int, key: str, definition_loader) -> FormValidator:
        with self._lock:
            found = self._validators.get((version_id, key))
        if found is not None:
            return found
        validator = FormValidator.from_definition(definition_loader())
        with self._lock:
            if len(self._validators) >= self._capacity:
                self._validators.pop(next(iter(self._validators)))
            self._validators[(version_id, key)] = validator
        return validator


def form_definition(session, version_id: int, key: str) -> dict:
    """A form as deployed with a pathway version."""
    version = pathway_repo.version_by_id(session, version_id)
    forms = (version.forms or {}) if version is not None else {}
    if key not in forms:
        # Deployment checks every form key, so this means the version predates its form.
        raise LookupError(f"表单 {key} 未随路径版本 {version_id} 部署")
    return forms[key]


def validator_for(ctx, session, version_id: int, form_key: str | None, task_spec) -> FormValidator:
    if form_key:
        return ctx.forms.get(version_id, form_key,
                             lambda: form_definition(session, version_id, form_key))
    declared = (getattr(task_spec, "extensions", None) or {}).get("formFields")
    if declared:
        return FormValidator.from_declared(declared)
    return FormValidator.nothing()


def check_submission(ctx, session, version_id: int, form_key: str | None, spiff_task,
                     data: dict) -> dict:
    """The cleaned submission, or FormInvalid naming each bad field. Conditions on the form
    (`conditional.hide`) see the submitted values over the instance's current variables."""
    validator = validator_for(ctx, session, version_id, form_key, spiff_task.task_spec)
    return validator.validate(data, context=dict(spiff_task.data))
