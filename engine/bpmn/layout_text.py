"""Keep the analyst's own text when `engine.bpmn.layout` replaces a file's diagram.

lxml re-serializes every start tag (attributes on one line, CDATA as escaped text). For a file
under version control only the diagram should change, so the freshly drawn DI is spliced into the
original bytes instead: old `BPMNDiagram` elements cut out, `bpmndi`/`dc`/`di` declared on the
root start tag next to its other namespaces, the new DI put before the root's closing tag. The
splice is used only if it parses to exactly the same document (canonical XML, comments included)
as the lxml serialization; otherwise that serialization is the answer.
"""
from __future__ import annotations

import re

from lxml import etree

from .xmlsafe import UnsafeXmlError, parse_xml

_DECLARATION = re.compile(r"^\ufeff?<\?xml[^>]*?\?>")
_ENCODING = re.compile(r"""encoding\s*=\s*["']([^"']+)["']""")
_NS_ATTRIBUTE = re.compile(r"""(\s+)xmlns(?::[\w.-]+)?\s*=\s*(?:"[^"]*"|'[^']*')""")
_OLD_DIAGRAM = re.compile(
    r"[ \t\r\n]*<(?P<p>(?:[\w.-]+:)?)BPMNDiagram\b(?:[^<>]*?/>|.*?</(?P=p)BPMNDiagram\s*>)", re.S)


def _tag_end(text: str, start: int) -> int:
    """Index just after the `>` closing the start tag that begins before `start`."""
    quote = None
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == ">":
            return index + 1
    return -1


def _canonical(data: bytes) -> bytes:
    tree = parse_xml(data, "<layout>", len(data) + 1)
    return etree.tostring(tree, method="c14n", with_comments=True)


def splice(original: bytes, produced: bytes, root_qname: str, di_prefix: str | None,
           added: dict[str, str], unit: str) -> bytes | None:
    """`original` with the DI of `produced` in place of its own, or None if that cannot be
    done safely. `added` are the namespace declarations the root gained."""
    try:
        text, out = original.decode("utf-8"), produced.decode("utf-8")
    except UnicodeDecodeError:
        return None
    declaration = _DECLARATION.match(text)
    if declaration:
        encoding = _ENCODING.search(declaration.group(0))
        if encoding and encoding.group(1).lower() not in ("utf-8", "utf8"):
            return None
    if not di_prefix or re.search(r"<(?:[\w.-]+:)?relationship\b", text):
        return None
    newline = "\r\n" if "\r\n" in text else "\n"
    tag = re.escape(di_prefix) + ":BPMNDiagram"
    found = list(re.finditer(rf"<{tag}\b.*</{tag}\s*>", out, re.S))
    if len(found) != 1:
        return None
    di = found[0].group(0).replace("\n", newline)
    text = _OLD_DIAGRAM.sub("", text)
    start = re.search(rf"<{re.escape(root_qname)}(?=[\s/>])", text)
    if start is None:
        return None
    end = _tag_end(text, start.end())
    if end < 0:
        return None
    if added:
        head = text[start.start():end]
        namespaces = list(_NS_ATTRIBUTE.finditer(head))
        at = namespaces[-1].end() if namespaces else len(head) - 1
        separator = namespaces[-1].group(1) if namespaces else " "
        head = head[:at] + "".join(f'{separator}xmlns:{p}="{uri}"' for p, uri in added.items()) \
            + head[at:]
        text = text[:start.start()] + head + text[end:]
    close = text.rfind(f"</{root_qname}")
    if close < 0:
        return None
    cut = close
    while cut > 0 and text[cut - 1] in " \t\r\n":
        cut -= 1
    text = text[:cut] + newline + unit + di + text[cut:]
    if not declaration:
        bom = "\ufeff" if text.startswith("\ufeff") else ""
        text = bom + '<?xml version="1.0" encoding="UTF-8"?>' + newline + text[len(bom):]
    result = text.encode("utf-8")
    try:
        same = _canonical(result) == _canonical(produced)
    except UnsafeXmlError:
        return None
    return result if same else None
