"""Hostile or broken BPMN is refused with a clear error that says where, and nothing is stored."""
from __future__ import annotations

import pytest

from engine.bpmn.xmlsafe import UnsafeXmlError, parse_xml
from engine.errors import PathwayInvalid
from engine.pathways import deploy_files
from engine.store import pathways as repo

from conftest import BPMN, DATA

HOSTILE = DATA / "hostile"


@pytest.mark.parametrize("name", ["xxe_file.bpmn", "xxe_network.bpmn", "entity_bomb.bpmn"])
def test_dtd_and_entities_are_refused_before_parsing(name):
    data = (HOSTILE / name).read_bytes()
    with pytest.raises(UnsafeXmlError) as caught:
        parse_xml(data, name)
    assert caught.value.line == 2
    assert "DOCTYPE" in caught.value.message
    assert "root:" not in str(caught.value)          # /etc/passwd never read


def test_entity_declaration_without_doctype_keyword_spacing_is_refused():
    data = b'<?xml version="1.0"?>\n<! DOCTYPE x [<!ENTITY a "b">]>\n<x/>'
    with pytest.raises(UnsafeXmlError):
        parse_xml(data, "spaced.bpmn")


def test_oversize_document_is_refused_by_size_not_parsed():
    data = b"<x>" + b"a" * 2048 + b"</x>"
    with pytest.raises(UnsafeXmlError, match="文件过大"):
        parse_xml(data, "big.bpmn", max_bytes=1024)


def test_malformed_xml_names_the_line():
    with pytest.raises(UnsafeXmlError) as caught:
        parse_xml((HOSTILE / "malformed.bpmn").read_bytes(), "malformed.bpmn")
    assert caught.value.line == 5 and "startEvent" in caught.value.message


def test_validate_cli_lists_every_problem_without_traceback(cli):
    result = cli.run("pathway", "validate", str(HOSTILE / "many_problems.bpmn"), check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    path = str(HOSTILE / "many_problems.bpmn")
    assert all(line.startswith(path + ":") for line in lines)
    found = {(line.split(":")[1], line.split(":")[2].strip()) for line in lines}
    expected = {
        ("8", "orphan_task"),      # no owner
        ("10", "ghost_role"),      # unknown role (directory loaded) and bad dueDate literal
        ("13", "gw"),              # gateway without default and a bare flow
        ("15", "f4"),              # condition does not compile
        ("20", "calc"),            # dunder escape in script
        ("25", "wait"),            # timer expression does not compile
    }
    assert expected <= found, lines
    text = result.stdout
    assert "health.nobody" in text and "P2X" in text and "__class__" in text


def test_validate_cli_json_and_clean_file(cli):
    clean = cli.run("pathway", "validate", str(BPMN / "school_screening.bpmn"))
    assert clean.returncode == 0
    problems = cli.json("pathway", "validate", str(HOSTILE / "xxe_file.bpmn"), check=False)
    assert problems == [{"file": str(HOSTILE / "xxe_file.bpmn"), "line": 2, "element": "-",
                         "message": problems[0]["message"]}]


def test_deploy_of_a_bad_file_stores_nothing(ctx):
    with pytest.raises(PathwayInvalid) as caught:
        deploy_files(ctx, [BPMN / "school_screening.bpmn", HOSTILE / "entity_bomb.bpmn"])
    assert any(p.line == 2 for p in caught.value.problems)
    with ctx.db.unit_of_work() as session:
        assert repo.latest_versions(session) == []


def test_deploy_cli_prints_problems_and_fails(cli):
    result = cli.run("pathway", "deploy", str(HOSTILE / "xxe_file.bpmn"), check=False)
    assert result.returncode == 1
    assert f"{HOSTILE / 'xxe_file.bpmn'}:2: -:" in result.stderr
    assert "Traceback" not in result.stderr
