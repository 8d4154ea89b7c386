"""Plain text and Markdown files (with YAML front matter)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from qa_app.documents.bounds import Limits, decode
from qa_app.documents.json_records import plain_json
from qa_app.documents.model import make_document, stem_title
from qa_app.documents.normalise import collapse, normalize_text
from qa_app.errors import LoadError
from qa_app.records import Document

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*\r?$\n?", re.MULTILINE | re.DOTALL)
_MD_HEADING = re.compile(r"#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*")


def is_headline(first: str, rest: str) -> bool:
    """A short first line followed by more text, that is not a hard-wrapped sentence going on."""
    if len(first) > 200 or not rest.strip():
        return False
    return rest.startswith("\n") or (not first.endswith((",", ";", ":", "-")) and not rest[:1].islower())


def load_txt(path: Path, data: bytes, limits: Limits) -> Document:
    """The first line is the title when it reads like a headline; otherwise the file name is."""
    text = normalize_text(decode(path, data))
    first, _, rest = text.partition("\n")
    if is_headline(first, rest):
        return make_document(title=first, text=rest.strip(), source=path.name)
    return make_document(title=stem_title(path), text=text, source=path.name)


def load_markdown(path: Path, data: bytes, limits: Limits) -> Document:
    """Markdown kept as written; title from front matter, a leading `# Heading`, or the file name."""
    raw = decode(path, data)
    match = _FRONT_MATTER.match(raw)
    front = _front_matter(path, match.group(1)) if match else {}
    text = normalize_text(raw[match.end() :] if match else raw)
    title = collapse(front.pop("title", None))
    heading = _MD_HEADING.fullmatch(text.partition("\n")[0])
    if heading and (not title or collapse(heading.group(1)).casefold() == title.casefold()):
        title, text = title or heading.group(1), text.partition("\n")[2].strip()
    published = front.pop("published_at", None) or front.pop("date", None)
    front.pop("date", None)  # when published_at won, date is a duplicate, not metadata
    outlet = front.pop("source", None)  # `source: Adriatic Wire` names the outlet; the file stays the source
    if outlet is not None and "outlet" not in front:
        front["outlet"] = collapse(outlet)
    source = front.get("url") or path.name
    return make_document(
        title=title or stem_title(path),
        text=text,
        source=str(source),
        published_at=published,
        metadata=front,
    )


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases: `*name` can repeat a node exponentially (a "billion laughs" bomb)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not accepted", mark)
        return super().compose_node(parent, index)


def _front_matter(path: Path, block: str) -> dict[str, Any]:
    try:
        loaded = yaml.load(block, Loader=_NoAliasLoader)  # a SafeLoader subclass: safe
    except RecursionError as exc:
        raise LoadError(str(path), "malformed YAML front matter (nested too deeply)") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise LoadError(str(path), f"malformed YAML front matter ({problem}{where})") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise LoadError(str(path), "front matter must be a YAML mapping of 'key: value' lines")
    try:
        return {str(key): plain_json(value) for key, value in loaded.items()}
    except ValueError as exc:
        raise LoadError(str(path), f"front matter: {exc}") from exc
