"""Hardened XML parsing for everything CarePath reads from analysts or other systems.

BPMN and DMN files never need a DOCTYPE, entities or external resources, so any of those is
refused before lxml sees the document: that stops XXE (external entities, `SYSTEM` file reads,
network fetches, external DTDs) and entity-expansion bombs ("billion laughs", quadratic blowup)
whatever the parser's defaults. The check reads the document as text in its own encoding (by its
byte-order mark or its declaration), so a declaration hidden in UTF-16 or UTF-7 is found too, and
only encodings that lxml and Python read alike are accepted. The lxml parser itself is configured
the same way, as a second wall; XInclude elements are refused (they are never expanded, but a
file naming one is not a pathway) and nesting deeper than libxml2's limit says so.
"""
from __future__ import annotations

import codecs
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


_REFUSED = re.compile(r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)\b", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_DECLARED = re.compile(rb"<\?xml[^>]{0,200}?\bencoding\s*=\s*[\"']([^\"']{1,40})[\"']")
# Python codec names of the encodings accepted without a byte-order mark: ASCII-compatible ones
# that libxml2 decodes as Python does. UTF-16/32 need their byte-order mark.
_ACCEPTED = {"utf-8", "ascii", "latin-1", "iso8859-1", "gb2312", "gbk", "gb18030", "big5"}
_XINCLUDE = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")
MAX_DEPTH = 256            # libxml2's own limit without XML_PARSE_HUGE


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _text_of(data: bytes, filename: str | None) -> str:
    """The document as text, decoded as lxml will decode it, or UnsafeXmlError saying why not."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            break
    else:
        if b"\x00" in data:
            raise UnsafeXmlError("文件含有空字节，不是文本 XML (binary content)", 1, filename)
        declared = _DECLARED.match(data[:300].lstrip())
        codec = declared.group(1).decode("ascii", "replace").strip() if declared else "utf-8"
        try:
            name = codecs.lookup(codec).name
        except LookupError:
            name = None
        if name is not None and name.startswith(("utf-16", "utf-32")):
            name = "utf-8"     # no byte-order mark and no NUL bytes: libxml2 reads it as UTF-8 too
        if name not in _ACCEPTED:
            raise UnsafeXmlError(f"不支持的字符编码 {codec!r}：请以 UTF-8 保存 (unsupported encoding)",
                                 1, filename)
        codec = name
    try:
        return data.decode(codec)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise UnsafeXmlError(f"第 {err.start + 1} 字节不是有效的 {codec} 文本 (invalid {codec} byte)",
                             line, filename) from None


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
    text = _text_of(data, filename)
    refused = _REFUSED.search(text)
    if refused:
        keyword = refused.group(1).upper()
        raise UnsafeXmlError(
            f"不允许 <!{keyword}> 声明: DTD 与实体会导致 XXE 或实体膨胀攻击 "
            f"(DOCTYPE/ENTITY declarations are refused)",
            _line_of(text, refused.start()), filename)
    try:
        root = etree.fromstring(data, parser=_hardened_parser())
    except etree.XMLSyntaxError as err:
        line = err.lineno if err.lineno else None
        if "Excessive depth" in (err.msg or ""):
            raise UnsafeXmlError(f"元素嵌套过深：超过 {MAX_DEPTH} 层 (elements nested too deeply)",
                                 line, filename) from err
        raise UnsafeXmlError(f"XML 格式错误: {err.msg}", line, filename) from err
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise UnsafeXmlError("不允许 DOCTYPE 声明 (DOCTYPE refused)", 1, filename)
    for element in root.iter(*(f"{{{ns}}}*" for ns in _XINCLUDE)):
        raise UnsafeXmlError(f"不允许 XInclude 元素 <{etree.QName(element).localname}>：不会读取外部文件 "
                             f"(XInclude is refused)", element.sourceline, filename)
    return tree
