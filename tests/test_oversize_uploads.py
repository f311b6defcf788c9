"""Uploads over MAX_CONTENT_LENGTH: 413 with a clear page (HTML) or answer (JSON) saying what
was sent where and the limit, nothing stored and the modeler's draft kept."""
from __future__ import annotations

import io

from hostile import DRAFT, FORM_KEY, analyst, app, counts, post_body  # noqa: F401  (app is a fixture)
from web import text_of

OVERSIZE = 3 * 1024 * 1024


def test_oversize_uploads_get_413_saying_what_and_where_and_nothing_is_stored(app, region):
    client = analyst(app)
    assert post_body(client, "/modeler/pathways/school_screening/save", DRAFT, "application/xml", 0).status_code == 200
    before = counts(region)
    imported = client.post("/modeler/import", {"file": (io.BytesIO(b" " * OVERSIZE), "school_screening.bpmn")},
                           content_type="multipart/form-data")
    assert imported.status_code == 413 and imported.mimetype == "text/html"
    assert "提交到 /modeler/import 的内容有 3 MB，超过上限 2 MB，未保存任何内容。" in text_of(imported)
    for url, content_type, size in ((f"/modeler/forms/save/{FORM_KEY}", "application/json", 10),
                                    ("/modeler/pathways/school_screening/save", "application/xml", 3)):
        answer = post_body(client, url, b" " * (size * 1024 * 1024), content_type, 1)
        assert answer.status_code == 413 and answer.get_json() == {
            "code": "too_large", "error": f"提交到 {url} 的内容有 {size} MB，超过上限 2 MB，未保存任何内容。"}
    assert counts(region) == before
    assert client.get("/modeler/pathways/school_screening/source.bpmn").data == DRAFT
