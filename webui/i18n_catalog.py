"""The web UI's messages as Babel extracts them: every Chinese msgid written inside `_()` /
`gettext` in `webui/*.py` and `webui/templates/**/*.html`, and the labels handed to `_()` as
values (the escalation queue's agency labels), which extraction cannot see.

Only the standard library, Babel and Jinja2 are used here, and nothing is read when the module
is imported: `scripts/i18n_extract.py` loads this file on its own, without the Flask app.
"""
from __future__ import annotations

import ast
from pathlib import Path

WEBUI = Path(__file__).resolve().parent
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
# The options of each method; Flask-Babel installs jinja2.ext.i18n, which the extractor adds itself.
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
SKIPPED_DIRS = {"frontend", "static", "translations", "node_modules"}
# Dicts of labels whose values templates pass to `_()` as variables: (module, name).
INDIRECT = (("escalations.py", "AGENCY_LABELS"),)


def _walk_into(dirname: str) -> bool:
    name = Path(dirname).name
    return not (name in SKIPPED_DIRS or name.startswith((".", "_")))


def extract(root: Path = WEBUI) -> dict[str, list[tuple[str, int]]]:
    """msgid → [(file relative to root, line)] for every message extracted under `root`, in the
    order Babel finds them. Plural messages contribute their singular and plural ids."""
    from babel.messages.extract import extract_from_dir

    found: dict[str, list[tuple[str, int]]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(root), METHODS, OPTIONS, directory_filter=_walk_into):
        for msgid in (message if isinstance(message, tuple) else (message,)):
            if msgid:
                found.setdefault(msgid, []).append((filename, lineno))
    return found


def msgids(root: Path = WEBUI) -> set[str]:
    """Every msgid extracted from the web UI's Python modules and templates."""
    return set(extract(root))


def indirect_msgids(root: Path = WEBUI) -> set[str]:
    """Labels that reach `_()` as values rather than literals (see INDIRECT), read from the
    literal dicts in the source without importing the app."""
    labels: set[str] = set()
    for module, name in INDIRECT:
        tree = ast.parse((root / module).read_text(encoding="utf-8"), filename=module)
        values = [node.value for node in tree.body
                  if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets)]
        if len(values) != 1:
            raise LookupError(f"{module}: expected one assignment of {name}, found {len(values)}")
        mapping = ast.literal_eval(values[0])
        labels.update(str(label) for label in mapping.values())
    return labels


def catalogue_msgids(root: Path = WEBUI) -> set[str]:
    """What the English catalogue must translate: extracted msgids and indirect labels."""
    return msgids(root) | indirect_msgids(root)
