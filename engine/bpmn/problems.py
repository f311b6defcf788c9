"""A problem found in a pathway file, and where in the source an element starts."""
from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    element: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.element}: {self.message}"


class SourceLines:
    """Where an element starts in the source. libxml2 reports the line on which a start tag
    ends; analysts look for the line where it begins."""

    def __init__(self, data: bytes):
        self.lines = data.decode("utf-8", errors="replace").splitlines()

    def start(self, element) -> int:
        end = element.sourceline or 0
        if not isinstance(element.tag, str):
            return end
        pattern = re.compile(r"<(?:[\w.-]+:)?" + re.escape(etree.QName(element).localname) + r"(?=[\s/>]|$)")
        for number in range(min(end, len(self.lines)), max(end - 50, 0), -1):
            if pattern.search(self.lines[number - 1]):
                return number
        return end
