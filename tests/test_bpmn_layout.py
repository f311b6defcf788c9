"""`carepath pathway layout`: a readable BPMN DI for files written as semantic XML only.

Real BPMN documents, parsed for real: every element gets exactly one shape or edge, geometry is
sane (lanes in pools, nodes in their lanes, nothing overlaps, edges touch their ends), the
semantic XML is untouched, the output is deterministic and idempotent and still validates.
"""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from lxml import etree

from engine.bpmn.layout import di_gaps, layout_bytes, layout_document
from engine.bpmn.parser import CarePathParser
from engine.bpmn.validate import validate_bytes
from engine.bpmn.xmlsafe import UnsafeXmlError, parse_xml
from engine.cli.common import cli
from engine.cli.layout import pathway_layout     # importing it registers `pathway layout`

from conftest import BPMN

MODEL = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
NS = {"bpmn": MODEL, "bpmndi": BPMNDI, "dc": DC, "di": DI}
HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"\n'
        '                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"\n'
        '                  id="defs" targetNamespace="http://carepath.example/bpmn">\n')
FLOW_NODES = ("startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
              "boundaryEvent", "task", "userTask", "manualTask", "scriptTask", "serviceTask",
              "sendTask", "receiveTask", "businessRuleTask", "callActivity", "subProcess",
              "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway")

# Two lanes, an exclusive gateway with a default flow, and a loop back to an earlier task.
LANES_LOOP = HEAD + """  <!-- intake and review -->
  <bpmn:collaboration id="collab">
    <bpmn:participant id="pool" name="转诊" processRef="referral"/>
  </bpmn:collaboration>
  <bpmn:process id="referral" name="转诊" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_doctor" name="health.family_doctor">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>intake</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>complete</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>rework</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="lane_expert" name="health.psychiatrist">
        <bpmn:flowNodeRef>review</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="收到转诊"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="intake"/>
    <bpmn:userTask id="intake" name="登记"/>
    <bpmn:sequenceFlow id="f2" sourceRef="intake" targetRef="complete"/>
    <bpmn:exclusiveGateway id="complete" name="资料齐全？" default="f_yes"/>
    <bpmn:sequenceFlow id="f_no" name="缺资料" sourceRef="complete" targetRef="rework">
      <bpmn:conditionExpression><![CDATA[missing > 0]]></bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_yes" sourceRef="complete" targetRef="review"/>
    <bpmn:userTask id="rework" name="补充资料"/>
    <bpmn:sequenceFlow id="f_back" sourceRef="rework" targetRef="intake"/>
    <bpmn:userTask id="review" name="专家审核"/>
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
    <bpmn:endEvent id="end" name="完成"/>
  </bpmn:process>
</bpmn:definitions>
"""

# A timer on a user task whose flow leads into another lane.
BOUNDARY = HEAD + """  <bpmn:collaboration id="collab">
    <bpmn:participant id="pool" processRef="consult"/>
  </bpmn:collaboration>
  <bpmn:process id="consult" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_expert" name="health.psychiatrist">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>consult_task</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>late</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="lane_supervisor" name="health.supervisor">
        <bpmn:flowNodeRef>supervise</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end_late</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="consult_task"/>
    <bpmn:userTask id="consult_task" name="会诊"/>
    <bpmn:boundaryEvent id="late" name="超时" attachedToRef="consult_task">
      <bpmn:timerEventDefinition><bpmn:timeDuration>P3D</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f_late" sourceRef="late" targetRef="supervise"/>
    <bpmn:userTask id="supervise" name="督导"/>
    <bpmn:sequenceFlow id="f_sup" sourceRef="supervise" targetRef="end_late"/>
    <bpmn:endEvent id="end_late"/>
    <bpmn:sequenceFlow id="f2" sourceRef="consult_task" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""

# An embedded sub-process (drawn collapsed, with its own diagram) and an event sub-process.
SUBPROCESS = HEAD + """  <bpmn:process id="care" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="assess"/>
    <bpmn:subProcess id="assess" name="评估">
      <bpmn:startEvent id="a_start"/>
      <bpmn:sequenceFlow id="a1" sourceRef="a_start" targetRef="a_split"/>
      <bpmn:parallelGateway id="a_split"/>
      <bpmn:sequenceFlow id="a2" sourceRef="a_split" targetRef="a_mood"/>
      <bpmn:sequenceFlow id="a3" sourceRef="a_split" targetRef="a_risk"/>
      <bpmn:userTask id="a_mood" name="情绪量表" camunda:candidateGroups="health.family_doctor"/>
      <bpmn:userTask id="a_risk" name="风险评估" camunda:candidateGroups="health.family_doctor"/>
      <bpmn:sequenceFlow id="a4" sourceRef="a_mood" targetRef="a_join"/>
      <bpmn:sequenceFlow id="a5" sourceRef="a_risk" targetRef="a_join"/>
      <bpmn:parallelGateway id="a_join"/>
      <bpmn:sequenceFlow id="a6" sourceRef="a_join" targetRef="a_end"/>
      <bpmn:endEvent id="a_end"/>
    </bpmn:subProcess>
    <bpmn:sequenceFlow id="f2" sourceRef="assess" targetRef="end"/>
    <bpmn:endEvent id="end"/>
    <bpmn:subProcess id="on_cancel" triggeredByEvent="true">
      <bpmn:startEvent id="c_start" isInterrupting="false">
        <bpmn:timerEventDefinition><bpmn:timeDuration>P7D</bpmn:timeDuration></bpmn:timerEventDefinition>
      </bpmn:startEvent>
      <bpmn:sequenceFlow id="c1" sourceRef="c_start" targetRef="c_end"/>
      <bpmn:endEvent id="c_end"/>
    </bpmn:subProcess>
  </bpmn:process>
</bpmn:definitions>
"""

# No collaboration, no lanes: the plane is the process itself.
PLAIN = HEAD + """  <bpmn:process id="plain" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:userTask id="work" name="随访" camunda:candidateGroups="health.family_doctor"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="done"/>
    <bpmn:exclusiveGateway id="done" default="f_end"/>
    <bpmn:sequenceFlow id="f_again" sourceRef="done" targetRef="work">
      <bpmn:conditionExpression>again</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_end" sourceRef="done" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""

# Nested lanes, a second (black-box) pool with a message flow, a text annotation.
POOLS = HEAD + """  <bpmn:message id="msg_report" name="report"/>
  <bpmn:collaboration id="collab">
    <bpmn:participant id="pool" name="随访" processRef="followup"/>
    <bpmn:participant id="registry" name="信息系统"/>
    <bpmn:messageFlow id="mf" name="上报" sourceRef="report" targetRef="registry"/>
  </bpmn:collaboration>
  <bpmn:process id="followup" isExecutable="true">
    <bpmn:laneSet id="lanes">
      <bpmn:lane id="lane_health" name="health">
        <bpmn:childLaneSet id="health_lanes">
          <bpmn:lane id="lane_doctor" name="health.family_doctor">
            <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
            <bpmn:flowNodeRef>visit</bpmn:flowNodeRef>
          </bpmn:lane>
          <bpmn:lane id="lane_nurse" name="health.nurse">
            <bpmn:flowNodeRef>report</bpmn:flowNodeRef>
          </bpmn:lane>
        </bpmn:childLaneSet>
      </bpmn:lane>
      <bpmn:lane id="lane_civil" name="civil.social_worker">
        <bpmn:flowNodeRef>support</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="visit"/>
    <bpmn:userTask id="visit" name="随访"/>
    <bpmn:sequenceFlow id="f2" sourceRef="visit" targetRef="report"/>
    <bpmn:sendTask id="report" name="上报"/>
    <bpmn:sequenceFlow id="f3" sourceRef="report" targetRef="support"/>
    <bpmn:userTask id="support" name="社会支持"/>
    <bpmn:sequenceFlow id="f4" sourceRef="support" targetRef="end"/>
    <bpmn:endEvent id="end"/>
    <bpmn:textAnnotation id="note"><bpmn:text>每月一次</bpmn:text></bpmn:textAnnotation>
    <bpmn:association id="note_link" sourceRef="visit" targetRef="note"/>
  </bpmn:process>
</bpmn:definitions>
"""

FIXTURES = {"lanes_loop": LANES_LOOP, "boundary": BOUNDARY, "subprocess": SUBPROCESS,
            "plain": PLAIN, "pools": POOLS}


def _tree(data: bytes):
    return parse_xml(data, "test.bpmn")


def _bounds(shape) -> tuple[int, int, int, int]:
    b = shape.find("dc:Bounds", NS)
    return tuple(int(b.get(k)) for k in ("x", "y", "width", "height"))


def _inside(inner, outer) -> bool:
    x, y, w, h = inner
    ox, oy, ow, oh = outer
    return ox <= x and oy <= y and x + w <= ox + ow and y + h <= oy + oh


def _overlap(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _on_border(point, box) -> bool:
    x, y = point
    bx, by, bw, bh = box
    inside = bx <= x <= bx + bw and by <= y <= by + bh
    return inside and (x in (bx, bx + bw) or y in (by, by + bh))


def _without_di(data: bytes) -> bytes:
    root = _tree(data).getroot()
    for diagram in root.findall("bpmndi:BPMNDiagram", NS):
        root.remove(diagram)
    # C14N 2.0: only namespaces in use are declared; whitespace-only text is layout, not content
    return etree.canonicalize(root, strip_text=True, with_comments=True)


def _elements(root, kind: str):
    return root.iter(f"{{{MODEL}}}{kind}")


@pytest.fixture(params=sorted(FIXTURES))
def laid_out(request):
    source = FIXTURES[request.param].encode("utf-8")
    return request.param, source, layout_bytes(source, f"{request.param}.bpmn")


def test_every_element_has_exactly_one_shape_or_edge(laid_out):
    name, _, data = laid_out
    root = _tree(data).getroot()
    shapes = [s.get("bpmnElement") for s in root.iter(f"{{{BPMNDI}}}BPMNShape")]
    edges = [e.get("bpmnElement") for e in root.iter(f"{{{BPMNDI}}}BPMNEdge")]
    wanted = [e.get("id") for kind in FLOW_NODES + ("lane", "participant", "textAnnotation")
              for e in _elements(root, kind)]
    assert sorted(shapes) == sorted(wanted), name
    assert sorted(edges) == sorted(e.get("id") for kind in ("sequenceFlow", "messageFlow",
                                                             "association")
                                   for e in _elements(root, kind)), name
    assert di_gaps(data) == []
    for point in root.iter(f"{{{DI}}}waypoint"):
        assert point.get("x").lstrip("-").isdigit() and point.get("y").lstrip("-").isdigit()


def test_geometry_lanes_boundaries_no_overlap_and_edge_ends(laid_out):
    name, _, data = laid_out
    root = _tree(data).getroot()
    kinds = {e.get("id"): etree.QName(e).localname for e in root.iter()
             if isinstance(e.tag, str) and e.get("id")}
    hosts = {b.get("id"): b.get("attachedToRef") for b in _elements(root, "boundaryEvent")}
    for plane in root.iter(f"{{{BPMNDI}}}BPMNPlane"):
        boxes = {s.get("bpmnElement"): _bounds(s) for s in plane.findall("bpmndi:BPMNShape", NS)}
        for participant in _elements(root, "participant"):
            process = root.find(f"bpmn:process[@id='{participant.get('processRef')}']", NS)
            for lane in (_elements(process, "lane") if process is not None else ()):
                if participant.get("id") in boxes:
                    assert _inside(boxes[lane.get("id")], boxes[participant.get("id")])
        for lane in (ln for ln in _elements(root, "lane") if ln.get("id") in boxes):
            for ref in (r for r in lane.findall("bpmn:flowNodeRef", NS) if r.text in boxes):
                assert _inside(boxes[ref.text], boxes[lane.get("id")]), (name, ref.text)
        for boundary, host in hosts.items():
            if boundary in boxes:
                bx, by, bw, bh = boxes[boundary]
                hx, hy, hw, hh = boxes[host]
                assert by + bh // 2 == hy + hh and hx <= bx + bw // 2 <= hx + hw
        solid = {k: v for k, v in boxes.items() if kinds[k] not in ("lane", "participant")}
        items = sorted(solid.items())
        for i, (a, box_a) in enumerate(items):
            for b, box_b in items[i + 1:]:
                if hosts.get(a) == b or hosts.get(b) == a:
                    continue
                assert not _overlap(box_a, box_b), (name, a, b)
        flows = {f.get("id"): f for f in _elements(root, "sequenceFlow")}
        for edge in plane.findall("bpmndi:BPMNEdge", NS):
            flow = flows.get(edge.get("bpmnElement"))
            if flow is None:
                continue
            points = [(int(p.get("x")), int(p.get("y"))) for p in edge.findall("di:waypoint", NS)]
            assert len(points) >= 2
            assert _on_border(points[0], boxes[flow.get("sourceRef")]), (name, flow.get("id"))
            assert _on_border(points[-1], boxes[flow.get("targetRef")]), (name, flow.get("id"))
            for (x1, y1), (x2, y2) in zip(points, points[1:]):
                assert x1 == x2 or y1 == y2, (name, flow.get("id"), points)   # orthogonal


def test_semantic_xml_unchanged_deterministic_and_idempotent(laid_out):
    name, source, data = laid_out
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert _without_di(data) == _without_di(source)
    before, after = _tree(source).getroot().nsmap, _tree(data).getroot().nsmap
    assert after == {**before, "bpmndi": BPMNDI, "dc": DC, "di": DI}
    assert layout_bytes(source, "again.bpmn") == data
    assert layout_bytes(data, "twice.bpmn") == data
    assert b"<![CDATA[" in data if b"<![CDATA[" in source else True   # the analyst's text kept


def test_laid_out_files_validate_without_new_problems(laid_out):
    name, source, data = laid_out
    def found(d):
        return sorted((p.element, p.message) for p in validate_bytes(d, f"{name}.bpmn"))
    assert found(data) == found(source) == []


def test_spiffworkflow_reads_the_laid_out_file_like_the_original(laid_out):
    name, source, data = laid_out

    def specs(d):
        parser = CarePathParser()
        parser.add_bpmn_xml(_tree(d), f"{name}.bpmn")
        return {pid: sorted(parser.get_spec(pid).task_specs) for pid in parser.get_process_ids()}
    assert specs(data) == specs(source) and specs(data)


def test_lanes_loop_runs_below_and_gateway_marker_visible():
    data = layout_bytes(LANES_LOOP.encode())
    root = _tree(data).getroot()
    gateway = root.find(".//bpmndi:BPMNShape[@bpmnElement='complete']", NS)
    assert gateway.get("isMarkerVisible") == "true"
    assert gateway.find("bpmndi:BPMNLabel/dc:Bounds", NS) is not None
    boxes = {s.get("bpmnElement"): _bounds(s) for s in root.iter(f"{{{BPMNDI}}}BPMNShape")}
    back = root.find(".//bpmndi:BPMNEdge[@bpmnElement='f_back']", NS)
    points = [(int(p.get("x")), int(p.get("y"))) for p in back.findall("di:waypoint", NS)]
    rows_bottom = max(y + h for k, (x, y, w, h) in boxes.items()
                      if k in ("intake", "complete", "rework", "start"))
    lane = boxes["lane_doctor"]
    assert all(rows_bottom < y < lane[1] + lane[3] for _, y in points[1:-1])   # below the rows
    assert points[-1][1] == boxes["intake"][1] + boxes["intake"][3]            # into its bottom
    labelled = root.find(".//bpmndi:BPMNEdge[@bpmnElement='f_no']/bpmndi:BPMNLabel", NS)
    assert labelled is not None
    # the main path stays on one row: start, intake and the gateway share a centre line
    centres = {k: boxes[k][1] + boxes[k][3] // 2 for k in ("start", "intake", "complete")}
    assert len(set(centres.values())) == 1


def test_subprocess_is_collapsed_with_its_own_plane():
    data = layout_bytes(SUBPROCESS.encode())
    root = _tree(data).getroot()
    planes = {p.get("bpmnElement"): p for p in root.iter(f"{{{BPMNDI}}}BPMNPlane")}
    assert set(planes) == {"care", "assess", "on_cancel"}
    main = {s.get("bpmnElement"): s for s in planes["care"].findall("bpmndi:BPMNShape", NS)}
    assert main["assess"].get("isExpanded") == "false"
    assert main["on_cancel"].get("isExpanded") == "false"
    assert _bounds(main["on_cancel"])[1] > _bounds(main["assess"])[1]          # below the flow
    inner = {s.get("bpmnElement") for s in planes["assess"].findall("bpmndi:BPMNShape", NS)}
    assert inner == {"a_start", "a_split", "a_mood", "a_risk", "a_join", "a_end"}
    assert "a_mood" not in main


def test_pools_share_a_width_and_message_flows_and_annotations_are_drawn():
    root = _tree(layout_bytes(POOLS.encode())).getroot()
    boxes = {s.get("bpmnElement"): _bounds(s) for s in root.iter(f"{{{BPMNDI}}}BPMNShape")}
    pool, registry = boxes["pool"], boxes["registry"]
    assert (pool[0], pool[2]) == (registry[0], registry[2]) and registry[1] >= pool[1] + pool[3]
    assert _inside(boxes["lane_doctor"], boxes["lane_health"])
    assert boxes["lane_doctor"][0] > boxes["lane_health"][0]         # its own name band
    for edge_id, (source, target) in {"mf": ("report", "registry"),
                                      "note_link": ("visit", "note")}.items():
        edge = root.find(f".//bpmndi:BPMNEdge[@bpmnElement='{edge_id}']", NS)
        points = [(int(p.get("x")), int(p.get("y"))) for p in edge.findall("di:waypoint", NS)]
        assert _on_border(points[0], boxes[source]) and _on_border(points[-1], boxes[target])
    assert not _overlap(boxes["note"], pool)


def test_process_with_lanes_but_no_participant_warns():
    source = LANES_LOOP.replace(
        """  <bpmn:collaboration id="collab">
    <bpmn:participant id="pool" name="转诊" processRef="referral"/>
  </bpmn:collaboration>
""", "").encode()
    result = layout_document(source, "nolanes.bpmn")
    assert result.warnings and "referral" in result.warnings[0]
    root = _tree(result.data).getroot()
    assert root.find(".//bpmndi:BPMNPlane", NS).get("bpmnElement") == "referral"
    assert not root.findall(".//bpmndi:BPMNShape[@bpmnElement='lane_doctor']", NS)
    assert di_gaps(result.data) == []


def test_existing_di_is_replaced_not_duplicated():
    once = layout_bytes(PLAIN.encode())
    stale = once.replace(b'bpmnElement="f2"', b'bpmnElement="gone"')
    assert any("gone" in gap for gap in di_gaps(stale))
    assert layout_bytes(stale) == once


def test_school_screening_example_lays_out_and_validates():
    source = (BPMN / "school_screening.bpmn").read_bytes()
    data = layout_bytes(source, "school_screening.bpmn")
    assert di_gaps(data) == [] and validate_bytes(data, "school_screening.bpmn") == []
    assert _without_di(data) == _without_di(source)


def test_hostile_input_names_file_and_line():
    hostile = (b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
               b'<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&x;'
               b'</bpmn:definitions>\n')
    with pytest.raises(UnsafeXmlError) as caught:
        layout_bytes(hostile, "evil.bpmn")
    assert str(caught.value).startswith("evil.bpmn:2: ")


def test_cli_check_layout_and_errors(tmp_path):
    assert pathway_layout.name == "layout"
    runner = CliRunner()
    bare = tmp_path / "bare.bpmn"
    bare.write_text(LANES_LOOP, encoding="utf-8")
    evil = tmp_path / "evil.bpmn"
    evil.write_bytes(b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x "y">]>\n<d/>\n')

    checked = runner.invoke(cli, ["pathway", "layout", "--check", str(bare)])
    assert checked.exit_code == 1 and str(bare) in checked.output
    assert bare.read_text(encoding="utf-8") == LANES_LOOP            # --check never writes

    written = runner.invoke(cli, ["pathway", "layout", str(bare)])
    assert written.exit_code == 0, written.output
    assert bare.read_bytes() == layout_bytes(LANES_LOOP.encode())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temp file left
    assert runner.invoke(cli, ["pathway", "layout", "--check", str(bare)]).exit_code == 0
    again = runner.invoke(cli, ["pathway", "layout", str(bare)])
    assert again.exit_code == 0 and "unchanged" in again.output

    broken = runner.invoke(cli, ["pathway", "layout", str(evil)])
    assert broken.exit_code == 1 and f"{evil}:2: " in broken.output
    assert "Traceback" not in broken.output and broken.exception is None or \
        isinstance(broken.exception, SystemExit)
    checked = runner.invoke(cli, ["pathway", "layout", "--check", str(bare), str(evil)])
    assert checked.exit_code == 1 and f"{evil}:2: " in checked.output
