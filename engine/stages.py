"""Care stages: where along the chain a task carries a person.

A pathway's analyst states the stage of every user task in the BPMN, as a `camunda:properties`
entry `<camunda:property name="stage" value="screening"/>`. The seven stages of the domain's
chain come first, in chain order; `crisis` (the 24-hour crisis line and emergency response) and
`relief` (civil-affairs relief and medical-insurance settlement) run beside the chain.
"""
from __future__ import annotations

# code → (Chinese label, English label), ordered along the chain.
STAGES: dict[str, tuple[str, str]] = {
    "prevention": ("预防", "Prevention"),
    "screening": ("筛查", "Screening"),
    "referral": ("转介", "Referral"),
    "diagnosis": ("诊断", "Diagnosis"),
    "treatment": ("治疗", "Treatment"),
    "rehabilitation": ("康复", "Rehabilitation"),
    "reintegration": ("社会融入", "Social reintegration"),
    "crisis": ("危机干预", "Crisis intervention"),
    "relief": ("救助结算", "Relief and settlement"),
}

UNSTAGED_LABEL = ("未标注阶段", "No stage")


def is_stage(code: str | None) -> bool:
    return code in STAGES


def stage_label(code: str | None, locale: str = "zh") -> str:
    """The stage's label in `locale` (`zh`, `zh_CN`, `en`, ...; anything not English is Chinese).
    A task without a stage reads "未标注阶段"; an unknown code is shown as it is."""
    labels = STAGES.get(code) if code is not None else UNSTAGED_LABEL
    if labels is None:
        return str(code)
    return labels[1] if (locale or "").lower().startswith("en") else labels[0]
