"""The YAML reading behind config files: safe, strict about repeated keys, and timestamps left
as text.

PyYAML keeps the last of two equal keys, so a second ``execution:`` section would silently
replace the first; here it is an error. It also turns an unquoted ``2025-01-01T00:00:00Z`` into
a ``datetime`` that a ``str`` field refuses; here it stays text and the config checks it as
RFC 3339 under the key's own name.
"""

from __future__ import annotations

from typing import Any, ClassVar

import yaml

__all__ = ["YAMLError", "load_yaml"]

YAMLError = yaml.YAMLError

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"


class _ConfigLoader(_BaseLoader):  # type: ignore[misc]
    yaml_implicit_resolvers: ClassVar[dict[Any, list[tuple[Any, Any]]]] = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag != _TIMESTAMP]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE:
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping",
                        node.start_mark,
                        f"found the key `{key_node.value}` a second time",
                        key_node.start_mark,
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def load_yaml(text: bytes | str) -> Any:
    """The document in ``text`` (``None`` when it holds only blanks and comments).

    Raises ``YAMLError``, or ``RecursionError`` for nesting deeper than the parser can follow.
    """
    return yaml.load(text, Loader=_ConfigLoader)
