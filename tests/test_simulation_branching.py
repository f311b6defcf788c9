"""A forecast's branch odds: a gateway with odds goes each way as often as stated, whatever the
data says, through the real engine; a gateway without odds still decides on the data; a branches
file that names a wrong process, gateway, flow or probability is refused saying which."""
from __future__ import annotations

import json
import random

import pytest

from engine.errors import InvalidInput
from engine.forms.schema import FormValidator
from engine.runtime import services
from engine.simulation.branching import Branching, Odds, exclusive_gateways, load_branches
from engine.simulation.context import SimulationContext
from engine.simulation.formdata import Generator

from conftest import FORMS, PATHWAYS, T0, deploy_pathways, task_by_element

VILLAGE = "510781001001"                 # 太平村
TEACHER, EXPERT = "teacher_wang", "expert_chen"
GATEWAYS = exclusive_gateways((PATHWAYS / "school_screening.bpmn").read_bytes())


def _form(name: str) -> FormValidator:
    path = FORMS / "school_screening" / f"{name}.form"
    return FormValidator.from_definition(json.loads(path.read_text(encoding="utf-8")))


def _simulation(region, odds: dict, seed: int = 1) -> SimulationContext:
    branching = Branching(odds, random.Random(seed))
    return SimulationContext(region.settings, branching, now=T0, db=region.db)


def _screen(sim, generator, fixed: dict) -> list[str]:
    """Start a screening at the village, submit the teacher's form: the elements now open."""
    started = services.start_instance(sim, "school_screening", VILLAGE, {})
    task = task_by_element(started.tasks, "screening")
    data = generator.submission(_form("screening"), fixed)
    return [t["element"] for t in services.complete(sim, task["id"], TEACHER, data).tasks]


def test_a_gateway_goes_each_way_as_often_as_stated(region, tmp_path):
    deploy_pathways(region, "school_screening")
    path = tmp_path / "branches.yaml"
    path.write_text("branches:\n  school_screening:\n"
                    "    gw_screen_positive: {flow_positive: 0.25, end_negative: 0.75}\n", encoding="utf-8")
    sim = _simulation(region, load_branches(path, GATEWAYS), seed=11)
    generator = Generator(random.Random(5), T0)
    outcomes = [_screen(sim, generator, {}) for _ in range(120)]
    positive = sum(elements == ["remote_consult"] for elements in outcomes)
    negative = sum(elements == [] for elements in outcomes)
    assert positive + negative == 120
    # The engine went where the odds sent it, every time; and the draws are near 1 in 4.
    assert sim.branching.drawn[("school_screening", "gw_screen_positive")] == \
        {"remote_consult": positive, "end_negative": negative}
    assert 15 <= positive <= 45


def test_the_odds_decide_even_against_the_data_and_other_gateways_read_the_data(region):
    deploy_pathways(region, "school_screening")
    always = {("school_screening", "gw_screen_positive"): _odds({"remote_consult": 1.0})}
    sim = _simulation(region, always)
    generator = Generator(random.Random(2), T0)
    # A score of 0 with no self-harm item is negative by the pathway's condition: odds of 1 win.
    assert _screen(sim, generator, {"phq9_score": 0, "phq9_item9": 0}) == ["remote_consult"]

    consult = task_by_element(services.list_tasks(sim, status="open"), "remote_consult")
    data = generator.submission(_form("remote_consult"), {"consult_result": "not_confirmed"})
    after = services.complete(sim, consult["id"], EXPERT, data)
    assert [t["element"] for t in after.tasks] == ["followup_talk"]      # gw_confirmed: no odds
    assert ("school_screening", "gw_confirmed") not in sim.branching.drawn


def _odds(shares: dict) -> Odds:
    return Odds(tuple(sorted(shares.items())))


@pytest.mark.parametrize("text, message", [
    ("branches:\n  no_such: {g: {a: 1}}\n", "路径 no_such 没有排他网关"),
    ("branches:\n  school_screening: {gw_nope: {a: 1}}\n", "gw_screen_positive"),
    ("branches:\n  school_screening: {gw_screen_positive: {flow_sideways: 1}}\n", "flow_positive → remote_consult"),
    ("branches:\n  school_screening: {gw_screen_positive: {flow_positive: 0.5, flow_negative: 0.4}}\n",
     "之和应为 1，实为 0.9"),
    ("branches:\n  school_screening: {gw_screen_positive: {flow_positive: 1.5}}\n", "0 到 1 之间"),
    ("branches:\n  school_screening: {gw_screen_positive: {flow_positive: 0.5, remote_consult: 0.5}}\n",
     "同一个元素 remote_consult"),
    ("school_screening: {}\n", "顶层键 branches"),
    ("branches: [unclosed\n", "无法读取"),
])
def test_a_wrong_branches_file_is_refused_saying_where(tmp_path, text, message):
    path = tmp_path / "odds.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        load_branches(path, GATEWAYS)
    assert "odds.yaml" in str(refused.value) and message in str(refused.value)


def test_gateways_are_read_from_the_bpmn_with_their_flows_and_default():
    gateway = GATEWAYS[("school_screening", "gw_screen_positive")]
    assert gateway.flows == {"flow_negative": "end_negative", "flow_positive": "remote_consult"}
    assert gateway.default == "flow_negative" and gateway.name == "筛查阳性？"
