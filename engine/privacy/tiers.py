"""The tiers of person data and which tier each process variable carries. Pure.

- `basic` (基本信息): who the person is, where they live, what service they are in. Grassroots
  roles read it in their jurisdiction.
- `clinical` (临床信息): screening results, diagnoses, treatment, follow-up findings. The health
  professional team reads it; other agencies only with the person's consent.
- `case` (案件相关信息): forensic assessment, community-correction and case records. Justice roles
  read it; other agencies only with the person's consent.

A pathway declares the tier of its data in its BPMN, on the process:

    <camunda:property name="tier" value="clinical"/>            the default for its variables
    <camunda:property name="tier.basic" value="relief_decision, relief_amount"/>

and a form field may carry its own, as a form-js custom property `"properties": {"tier": "case"}`
(the form's root `properties.tier` is the default for its fields). A field's own tier comes
first, then its form's, then the pathway's list, then the pathway's default. Data of a pathway
that declares nothing is clinical: in a mental-health service, the safe default.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

BASIC, CLINICAL, CASE = "basic", "clinical", "case"
TIERS = (BASIC, CLINICAL, CASE)
TIER_LABELS = {BASIC: ("基本信息", "Basic information"),
               CLINICAL: ("临床信息", "Clinical records"),
               CASE: ("案件相关信息", "Case-related information")}
# The agencies whose roles read a tier without the person's consent (basic: every agency).
NATIVE_AGENCIES: dict[str, frozenset[str] | None] = {
    BASIC: None, CLINICAL: frozenset({"health"}), CASE: frozenset({"justice"})}
DEFAULT_ROLE_TIERS = (BASIC,)
DEFAULT_DATA_TIER = CLINICAL
# Variables the engine itself sets (the person's reference on a started instance).
ENGINE_VARIABLES = {"person_ref": BASIC}


def tier_label(tier: str, locale: str = "zh") -> str:
    labels = TIER_LABELS.get(tier)
    if labels is None:
        return tier
    return labels[1] if (locale or "").lower().startswith("en") else labels[0]


def is_native(agency: str, tier: str) -> bool:
    agencies = NATIVE_AGENCIES.get(tier)
    return agencies is None or agency in agencies


@dataclass(frozen=True)
class DataTiers:
    """The tier of each variable of one pathway version."""
    default: str = DEFAULT_DATA_TIER
    variables: Mapping[str, str] = field(default_factory=dict)

    def tier_of(self, name: str) -> str:
        name = str(name).split(".")[0]
        return self.variables.get(name) or ENGINE_VARIABLES.get(name) or self.default


def split_by_tier(data: Mapping, tiers: DataTiers, readable: Iterable[str]) -> tuple[dict, dict[str, int]]:
    """The part of `data` the reader may see, and how many values of each other tier were held back."""
    readable = set(readable)
    shown, hidden = {}, {}
    for key, value in data.items():
        tier = tiers.tier_of(key)
        if tier in readable:
            shown[key] = value
        else:
            hidden[tier] = hidden.get(tier, 0) + 1
    return shown, hidden


# --- declarations ---------------------------------------------------------------------------------

def _names(value: str) -> list[str]:
    return [name.strip() for name in value.replace("，", ",").replace(" ", ",").split(",") if name.strip()]


def declared_tiers(process_properties: Iterable[tuple[str, str, str]], forms: Mapping[str, dict],
                   ) -> tuple[DataTiers, list[str]]:
    """A version's DataTiers from its processes' `tier` properties — (process id, name, value) —
    and its forms (form key → form-js), with a problem for each unknown tier or variable declared
    twice with different tiers."""
    problems: list[str] = []
    default = None
    variables: dict[str, str] = {}
    where: dict[str, str] = {}

    def declare(name: str, tier: str, place: str) -> None:
        if tier not in TIERS:
            problems.append(f"{place}: 未知的信息分级 {tier!r}（应为 {'/'.join(TIERS)}）")
            return
        if name in variables and variables[name] != tier:
            problems.append(f"{place}: 变量 {name} 分级为 {tier}，但 {where[name]} 中为 {variables[name]}")
            return
        variables[name], where[name] = tier, place

    # Forms first: a field's own tier is the most specific declaration.
    for key, form in sorted(forms.items()):
        form_tier = _tier_property(form)
        if form_tier is not None and form_tier not in TIERS:
            problems.append(f"表单 {key}: 未知的信息分级 {form_tier!r}（应为 {'/'.join(TIERS)}）")
            form_tier = None
        for component in _fields(form):
            tier = _tier_property(component) or form_tier
            if tier is not None:
                declare(str(component["key"]).split(".")[0], tier, f"表单 {key} 字段 {component['key']}")
    for process_id, name, value in process_properties:
        if name == "tier":
            if value.strip() not in TIERS:
                problems.append(f"流程 {process_id}: 未知的信息分级 {value!r}（应为 {'/'.join(TIERS)}）")
            elif default is None:
                default = value.strip()
        elif name.startswith("tier."):
            tier = name[len("tier."):]
            for variable in _names(value):
                if variable not in variables:
                    declare(variable, tier, f"流程 {process_id} 属性 {name}")
                elif variables[variable] != tier:
                    problems.append(f"流程 {process_id} 属性 {name}: 变量 {variable} 分级为 {tier}，"
                                    f"但 {where[variable]} 中为 {variables[variable]}")
    return DataTiers(default or DEFAULT_DATA_TIER, variables), problems


def _tier_property(component: dict) -> str | None:
    properties = component.get("properties")
    if isinstance(properties, dict) and properties.get("tier") is not None:
        return str(properties["tier"]).strip()
    return None


def _fields(form: dict) -> list[dict]:
    found, stack = [], list(form.get("components") or [])
    while stack:
        component = stack.pop(0)
        if isinstance(component, dict):
            if component.get("key"):
                found.append(component)
            stack.extend(component.get("components") or [])
    return found
