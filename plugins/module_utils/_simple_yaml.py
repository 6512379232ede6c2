# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A reader for the block-style YAML subset that kubeconfig writers produce, without PyYAML's constructor.

Cluster API writes kubeconfigs with client-go's ``clientcmd`` (block mappings, block sequences of mappings at the
key's indentation, plain scalars, ``{}``); PyYAML's ``safe_dump`` writes the same layout. Loading one such document
through PyYAML costs about a millisecond, almost all of it in the pure-Python constructor, which is most of a
registration of 1000 clusters. :func:`read` returns exactly what ``yaml.safe_load`` would for a document inside the
subset, and ``None`` for anything else (comments, quotes, flow collections other than ``{}``/``[]``, anchors,
multi-line scalars, scalars that PyYAML would not read as strings, duplicate keys, ...), so the caller falls back to
PyYAML: the result never depends on which reader ran.
"""
from __future__ import annotations

import re
from typing import Any

try:
    from yaml import ScalarNode
    from yaml.resolver import Resolver
    _STR_TAG = "tag:yaml.org,2002:str"
    _RESOLVER: Any = Resolver()
    # PyYAML tries implicit types by a scalar's first character: any other first character reads as a string.
    _TYPED_FIRST = set(Resolver.yaml_implicit_resolvers)
except ImportError:  # pragma: no cover - the callers report the missing PyYAML themselves
    _RESOLVER = None

__all__ = ["read"]

_KEY = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
# Plain scalars made of these characters, not starting with an indicator and not ending in ':', read as one token.
_VALUE = r"[A-Za-z0-9_./+=](?:[A-Za-z0-9_.@/:+=-]*[A-Za-z0-9_.@/+=-])?"
_LINE = re.compile(rf"^( *)(- )?({_KEY}):(?: ({_VALUE}|\{{\}}|\[\]))?$")
_SCALAR_ITEM = re.compile(rf"^( *)- ({_VALUE})$")


class _Unsupported(Exception):
    """The document is outside the subset: let PyYAML read it."""


def _scalar(text: str) -> str:
    if text.endswith(":"):
        raise _Unsupported(text)
    if (text[:1] in _TYPED_FIRST or None in _TYPED_FIRST) and \
            _RESOLVER.resolve(ScalarNode, text, (True, False)) != _STR_TAG:
        raise _Unsupported(text)
    return text


def _value(text: str) -> Any:
    if text == "{}":
        return {}
    if text == "[]":
        return []
    return _scalar(text)


class _Reader:
    def __init__(self, text: str) -> None:
        self.lines: list[tuple[int, str]] = []
        for raw in text.split("\n"):
            if not raw:
                continue
            stripped = raw.lstrip(" ")
            if not stripped or raw != raw.rstrip() or "\t" in raw or "\r" in raw:
                raise _Unsupported("whitespace")
            self.lines.append((len(raw) - len(stripped), stripped))
        self.pos = 0

    def peek(self) -> tuple[int, str] | None:
        return self.lines[self.pos] if self.pos < len(self.lines) else None

    def mapping(self, indent: int, first: str | None = None) -> dict[str, Any]:
        """A block mapping whose keys sit at ``indent``; ``first`` is the key line after a sequence's '- '."""
        out: dict[str, Any] = {}
        while True:
            if first is not None:
                content, first = first, None
            else:
                line = self.peek()
                if line is None or line[0] != indent or line[1].startswith("- "):
                    if line is not None and line[0] > indent:
                        raise _Unsupported("indentation")
                    return out
                content = line[1]
                self.pos += 1
            match = _LINE.match(content)
            if match is None or match.group(2):
                raise _Unsupported(content)
            key = _scalar(match.group(3))
            if key in out:
                raise _Unsupported("duplicate key")
            if match.group(4) is not None:
                out[key] = _value(match.group(4))
                continue
            nxt = self.peek()
            if nxt is None:
                raise _Unsupported("empty value")
            if nxt[0] > indent:
                out[key] = self.block(nxt[0])
            elif nxt[0] == indent and nxt[1].startswith("- "):
                out[key] = self.sequence(indent)
            else:
                raise _Unsupported("empty value")

    def sequence(self, indent: int) -> list[Any]:
        out: list[Any] = []
        while True:
            line = self.peek()
            if line is None or line[0] != indent or not line[1].startswith("- "):
                if line is not None and line[0] > indent:
                    raise _Unsupported("indentation")
                return out
            self.pos += 1
            item = _SCALAR_ITEM.match(" " * indent + line[1])
            if item is not None:
                out.append(_scalar(item.group(2)))
            else:
                out.append(self.mapping(indent + 2, first=line[1][2:]))

    def block(self, indent: int) -> Any:
        line = self.peek()
        if line is None:
            raise _Unsupported("empty")
        return self.sequence(indent) if line[1].startswith("- ") else self.mapping(indent)


def read(text: str) -> dict[str, Any] | None:
    """The mapping ``yaml.safe_load(text)`` returns, when ``text`` is in the subset; else None."""
    if _RESOLVER is None:
        return None
    try:
        reader = _Reader(text)
        if not reader.lines or reader.lines[0][0] != 0:
            return None
        doc = reader.mapping(0)
        if reader.peek() is not None:
            return None
        return doc
    except (_Unsupported, RecursionError):
        return None
