"""BPMN and DMN: XXE (file, http, parameter entity), external DTD, billion laughs, quadratic
blowup, the same hidden in UTF-16 or UTF-7, XInclude, deep nesting, a huge attribute — through
`carepath pathway deploy`, `deploy_files`, the modeler's import, save and validate, and a decision
table deployed alongside — each refused naming the line and the cause, nothing stored and the
modeler's draft kept. What tests/test_hostile_bpmn.py already proves (DOCTYPE and entities refused by
parse_xml, deploy_files and the CLI; `pathway validate`) is not repeated here."""
from __future__ import annotations

import codecs
import io
import json
import shutil
import time

import pytest
from sqlalchemy import select

from engine.errors import PathwayInvalid
from engine.pathways import deploy_files
from engine.store.models import PathwayVersion

from conftest import PATHWAYS
from hostile import DRAFT, LINES, SOURCE, analyst, app, counts, library, post_body  # noqa: F401  (app, library are fixtures)
from web import text_of

DECLARATION, BODY = SOURCE.split(b"\n", 1)
COLLABORATION = next(n for n, line in enumerate(LINES, 1) if b"<bpmn:collaboration" in line)


def with_doctype(declaration: str, use: str = "", source: bytes = SOURCE) -> bytes:
    """The real pathway with `declaration` on line 2 and `use` at the start of its first
    documentation (where an expanded entity would land)."""
    first, rest = source.split(b"\n", 1)
    if use:
        rest = rest.replace(b"<bpmn:documentation>", b"<bpmn:documentation>" + use.encode(), 1)
    return first + b"\n" + declaration.encode() + b"\n" + rest


def before_collaboration(markup: str) -> bytes:
    """The real pathway with `markup` on a line of its own, line COLLABORATION."""
    return b"\n".join([*LINES[:COLLABORATION - 1], markup.encode(), *LINES[COLLABORATION - 1:]])


XXE_FILE = '<!DOCTYPE bpmn:definitions [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
LAUGHS = '<!DOCTYPE lolz [<!ENTITY lol0 "lol">' + "".join(
    f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)) + "]>"
ATTACKS = {                           # name: (document, line of the fault, what the message names)
    "xxe_file": (with_doctype(XXE_FILE, "&e;"), 2, "DOCTYPE"),
    "xxe_http": (with_doctype('<!DOCTYPE d [<!ENTITY e SYSTEM "http://127.0.0.1:9/secret">]>', "&e;"), 2, "DOCTYPE"),
    "parameter_entity": (with_doctype('<!DOCTYPE d [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>'), 2, "DOCTYPE"),
    "external_dtd": (with_doctype('<!DOCTYPE bpmn:definitions SYSTEM "http://127.0.0.1:9/bpmn.dtd">'), 2, "DOCTYPE"),
    "billion_laughs": (with_doctype(LAUGHS, "&lol9;"), 2, "DOCTYPE"),
    "quadratic_blowup": (with_doctype('<!DOCTYPE q [<!ENTITY e "' + "x" * 50_000 + '">]>', "&e;" * 2_000), 2, "DOCTYPE"),
    "xxe_in_utf16": (codecs.BOM_UTF16_LE + with_doctype(XXE_FILE, "&e;").decode().replace(
        'encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-le"), 2, "DOCTYPE"),
    "doctype_in_utf7": (DECLARATION.replace(b"UTF-8", b"UTF-7") + b"\n" + XXE_FILE.encode("utf-7") + b"\n" + BODY,
                        1, "UTF-7"),
    "xinclude": (before_collaboration('<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                                      'href="file:///etc/passwd" parse="text"/>'), COLLABORATION, "XInclude"),
    "deep_nesting": (before_collaboration("<a>" * 300 + "</a>" * 300), COLLABORATION, "嵌套过深"),
}


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a not in ("xxe_file", "billion_laughs")])
def test_deploy_files_refuses_each_attack_with_its_line_and_stores_nothing(ctx, library, attack):
    """(XXE and billion laughs through deploy_files: tests/test_hostile_bpmn.py.)"""
    document, line, token = ATTACKS[attack]
    path = library / "pathways" / "school_screening.bpmn"
    path.write_bytes(document)
    before = counts(ctx)
    started = time.monotonic()
    with pytest.raises(PathwayInvalid) as refused:
        deploy_files(ctx, [path])
    assert time.monotonic() - started < 5                          # refused, not expanded
    [problem] = refused.value.problems
    assert (problem.file, problem.line, problem.element) == (str(path), line, "-")
    assert token in problem.message and "root:" not in problem.message
    assert counts(ctx) == before


def test_carepath_deploy_refuses_the_attacks_and_deploys_nothing(cli, ctx, library):
    for attack in ("external_dtd", "quadratic_blowup", "xxe_in_utf16", "doctype_in_utf7", "xinclude", "deep_nesting"):
        document, line, token = ATTACKS[attack]
        path = library / "pathways" / "school_screening.bpmn"
        path.write_bytes(document)
        result = cli.run("pathway", "deploy", str(path), check=False)
        assert result.returncode == 1, attack
        assert f"{path}:{line}: -:" in result.stderr and token in result.stderr, (attack, result.stderr)
        assert "Traceback" not in result.stderr and "root:" not in result.stdout + result.stderr
    assert counts(ctx)["pathway_versions"] == 0 and counts(ctx)["bpmn_sources"] == 0


def test_a_decision_table_with_a_doctype_beside_the_pathway_stops_the_deploy(cli, ctx, library):
    shutil.copy(PATHWAYS / "severe_followup.bpmn", library / "pathways")
    table = (PATHWAYS / "severe_followup_interval.dmn").read_bytes()
    hostile = library / "pathways" / "severe_followup_interval.dmn"
    hostile.write_bytes(with_doctype(XXE_FILE, source=table))
    with pytest.raises(PathwayInvalid) as refused:
        deploy_files(ctx, [library / "pathways" / "severe_followup.bpmn"])
    assert any(p.file.endswith("severe_followup_interval.dmn") and p.line == 2 and "DOCTYPE" in p.message
               for p in refused.value.problems), refused.value.problems
    alongside = library / "alongside.dmn"                         # named on the command line
    alongside.write_bytes(table.replace(b"<decision ", b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                                                     b'href="file:///etc/passwd"/><decision ', 1))
    hostile.write_bytes(table)
    result = cli.run("pathway", "deploy", str(library / "pathways" / "severe_followup.bpmn"), str(alongside),
                     check=False)
    assert result.returncode == 1 and f"{alongside}:" in result.stderr and "XInclude" in result.stderr
    assert "root:" not in result.stderr
    assert counts(ctx)["pathway_versions"] == 0


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_modeler_refuses_each_attack_on_import_save_and_validate_and_keeps_the_draft(app, region, attack):
    document, line, token = ATTACKS[attack]
    client = analyst(app)
    assert post_body(client, "/modeler/pathways/school_screening/save", DRAFT, "application/xml", 0).status_code == 200
    before = counts(region)

    checked = post_body(client, "/modeler/pathways/school_screening/validate", document, "application/xml")
    [problem] = checked.get_json()["problems"]
    assert f"第 {line} 行" in problem["message"] and token in problem["message"]
    saved = post_body(client, "/modeler/pathways/school_screening/save", document, "application/xml", 1)
    assert saved.status_code == 400 and f"第 {line} 行" in saved.get_json()["error"] and token in saved.get_json()["error"]
    imported = client.post("/modeler/import", {"file": (io.BytesIO(document), "school_screening.bpmn")},
                           content_type="multipart/form-data", follow_redirects=True)
    assert f"school_screening.bpmn 第 {line} 行" in text_of(imported) and token in text_of(imported)
    for answer in (checked, saved, imported):
        assert "root:" not in answer.get_data(as_text=True)

    assert counts(region) == before
    assert client.get("/modeler/pathways/school_screening/source.bpmn").data == DRAFT
    assert 'data-revision="1"' in client.get("/modeler/pathways/school_screening").get_data(as_text=True)


def test_a_huge_attribute_is_refused_by_length_naming_the_element(app, region, library):
    start = SOURCE.index(b'<bpmn:userTask id="screening" name="') + len(b'<bpmn:userTask id="screening" name="')
    huge = SOURCE[:start] + b"A" * 1_000_000 + SOURCE[start:]
    line = SOURCE[:start].count(b"\n") + 1
    path = library / "pathways" / "school_screening.bpmn"
    path.write_bytes(huge)
    with pytest.raises(PathwayInvalid) as refused:
        deploy_files(region, [path])
    [problem] = refused.value.problems
    assert (problem.line, problem.element) == (line, "screening") and "name 过长" in problem.message
    assert len(problem.message) < 200                             # the value is not echoed back

    client = analyst(app)
    checked = post_body(client, "/modeler/pathways/school_screening/validate", huge, "application/xml")
    assert [(p["element"], p["line"]) for p in checked.get_json()["problems"]] == [("screening", line)]
    saved = post_body(client, "/modeler/pathways/school_screening/save", huge, "application/xml", 0)
    assert saved.status_code == 200 and saved.get_json()["problems"][0]["element"] == "screening"   # a draft keeps problems
    deploy = client.client.post("/modeler/pathways/school_screening/deploy",
                                data=json.dumps({"comment": "改名", "revision": 1}),
                                headers={"Content-Type": "application/json", "X-CSRFToken": client.token})
    assert deploy.status_code == 422 and deploy.get_json()["problems"][0]["element"] == "screening"
    with region.db.unit_of_work() as session:
        assert [v.version for v in session.scalars(select(PathwayVersion))] == [1]
