"""The report's document model: sections of text, tables and images, built once and rendered
twice (`report.render`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    path: Path
    caption: str


Block = str | Table | Image
"""A paragraph (Markdown with **bold** and `code` only), a table or an image."""


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


def explained(title: str, intro: str, table: Table | None) -> Section | None:
    """A section of one table and the paragraph that says how to read it; none without it."""
    return None if table is None else Section(title, [intro, table])
