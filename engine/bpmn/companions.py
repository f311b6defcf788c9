"""Files that travel with a BPMN file: the decision tables (DMN) beside it and the forms its user
tasks name by `camunda:formKey`.

A form key is a path relative to the forms directory (`school_screening/screen.form`). Keys are
checked before any file is touched: no absolute paths, no `..`, no hidden or odd characters, and
the resolved file must lie inside the forms directory (a symlink out of it is refused too).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

FORM_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*\.(form|json)$")
MAX_FORM_BYTES = 256 * 1024


class FormKeyError(Exception):
    """A form key that names no readable form inside the forms directory."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def check_form_key(key: str) -> None:
    if len(key) > 300 or not FORM_KEY.match(key) or ".." in key.split("/") or "/." in f"/{key}":
        raise FormKeyError(f"表单键 {key!r} 无效：应为 forms/ 下的相对路径，如 school_screening/screen.form"
                           f"（不含 ..、绝对路径或隐藏文件）")


class FormFiles:
    """Reads forms by key from one directory."""

    def __init__(self, root: str | os.PathLike | None, max_bytes: int = MAX_FORM_BYTES):
        self.root = Path(root).resolve() if root is not None else None
        self.max_bytes = max_bytes

    def path_of(self, key: str) -> Path:
        check_form_key(key)
        if self.root is None:
            raise FormKeyError(f"表单 {key} 无法读取：未配置表单目录 (no forms directory)")
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise FormKeyError(f"表单键 {key!r} 指向表单目录之外 (outside the forms directory)")
        return path

    def read(self, key: str) -> bytes:
        path = self.path_of(key)
        try:
            size = path.stat().st_size
            if size > self.max_bytes:
                raise FormKeyError(f"表单 {key} 过大：{size} 字节，上限 {self.max_bytes} 字节")
            return path.read_bytes()
        except FileNotFoundError:
            raise FormKeyError(f"表单 {key} 不存在（在 {self.root.name}/ 下找不到 {key}）") from None
        except OSError as err:
            raise FormKeyError(f"表单 {key} 无法读取：{err.strerror}") from None


def forms_root_for(bpmn_path: str | os.PathLike, configured: str | None = None) -> Path:
    """The forms directory for a BPMN file: the configured one, else `forms/` beside the BPMN
    file's directory (pathways/x.bpmn → forms/)."""
    if configured:
        return Path(configured)
    return Path(bpmn_path).resolve().parent.parent / "forms"


def decisions_beside(bpmn_path: str | os.PathLike) -> list[Path]:
    """DMN files in the BPMN file's directory, in name order."""
    return sorted(Path(bpmn_path).resolve().parent.glob("*.dmn"))
