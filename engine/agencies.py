"""Agencies: the part of a role code before the dot (`health.psychiatrist` → `health`)."""
from __future__ import annotations

# code → (Chinese label, English label), in the order dashboards list them.
AGENCIES: dict[str, tuple[str, str]] = {
    "health": ("卫生健康", "Health"),
    "civil": ("民政", "Civil affairs"),
    "education": ("教育", "Education"),
    "justice": ("司法", "Justice"),
    "hrss": ("人力资源社会保障", "Human resources and social security"),
    "dpf": ("残联", "Disabled persons' federation"),
    "medical_insurance": ("医疗保障", "Medical insurance"),
    "police": ("公安", "Public security"),
    "family": ("家庭", "Family"),
}


def agency_of(role_code: str | None) -> str | None:
    """The agency of a role code, or None for a task without an owner role."""
    if not role_code:
        return None
    return role_code.split(".", 1)[0]


def agency_label(code: str | None, locale: str = "zh") -> str:
    """The agency's label in `locale` (anything not English is Chinese); unknown codes as they are."""
    labels = AGENCIES.get(code) if code is not None else ("未指定部门", "No agency")
    if labels is None:
        return str(code)
    return labels[1] if (locale or "").lower().startswith("en") else labels[0]


def agency_order(code: str | None) -> tuple[int, str]:
    """Sort key: known agencies in AGENCIES order, then the others by code."""
    keys = list(AGENCIES)
    return (keys.index(code), "") if code in AGENCIES else (len(keys), code or "")
