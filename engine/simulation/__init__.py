"""Workload forecast: a synthetic cohort run through the real engine on a moved clock.

Simulated staff complete tasks through `services.complete` with data their forms accept
(`formdata`), so routing, deadlines, escalations and gateways are the production ones.
"""
from __future__ import annotations

from pathlib import Path


def read_yaml(path: str | Path, what: str, what_en: str):
    """A forecast's YAML file (staff, branches), or InvalidInput naming the file and the problem."""
    import yaml

    from ..errors import InvalidInput
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise InvalidInput(f"{Path(path).name}: 无法读取{what} (cannot read the {what_en}): {err}") from None
