"""Hardened XML parsing for everything CarePath reads from analysts or other systems.

BPMN and DMN files never need a DOCTYPE, entities or external resources, so any of those is
refused before lxml sees the document: that stops XXE (external entities, `SYSTEM` file reads,
network fetches) and entity-expansion bombs ("billion laughs") whatever the parser's defaults.
The lxml parser itself is configured the same way, as a second wall.
"""
from __future__ import annotations

import re

from lxml import etree


class UnsafeXmlError(ValueError):
    """The document is malformed, too large, or uses a refused XML feature."""

    def __init__(self, message: str, line: int | None = None, filename: str | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.filename = filename

    def __str__(self) -> str:
        where = f"{self.filename or '<input>'}:{self.line or 0}"
        return f"{where}: {self.message}"


_REFUSED = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)\b", re.IGNORECASE)


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _hardened_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        collect_ids=False,
    )


def parse_xml(data: bytes | str, filename: str | None = None, max_bytes: int = 5 * 1024 * 1024):
    """Parse untrusted XML into an lxml element tree, or raise UnsafeXmlError saying where."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > max_bytes:
        raise UnsafeXmlError(
            f"文件过大: {len(data)} 字节，上限 {max_bytes} 字节 (file too large)", 1, filename)
    if data.count(b"\x00") and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnsafeXmlError("文件含有空字节，不是文本 XML (binary content)", 1, filename)
    refused = _REFUSED.search(data)
    if refused:
        keyword = refused.group(1).decode().upper()
        raise UnsafeXmlError(
            f"不允许 <!{keyword}> 声明: DTD 与实体会导致 XXE 或实体膨胀攻击 "
            f"(DOCTYPE/ENTITY declarations are refused)",
            _line_of(data, refused.start()), filename)
    try:
        root = etree.fromstring(data, parser=_hardened_parser())
    except etree.XMLSyntaxError as err:
        line = err.lineno if err.lineno else None
        raise UnsafeXmlError(f"XML 格式错误: {err.msg}", line, filename) from err
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise UnsafeXmlError("不允许 DOCTYPE 声明 (DOCTYPE refused)", 1, filename)
    return tree
