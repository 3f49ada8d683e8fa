"""YAML read strictly: a key given twice in one mapping is an error, never silently the last one.

Used for every YAML file the project reads as data (stack files, the catalog, the diff's replacement
rules): PyYAML keeps the last of two equal keys without a word, so a slip in a file would change its
meaning unseen.
"""

from typing import Any

import yaml

FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictLoader(FAST_LOADER):  # type: ignore[misc, valid-type]
    """PyYAML's safe loader (the C one when built), refusing a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"{key!r} is given twice (first at line {seen[key].line + 1})", key_node.start_mark
                    )
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, StrictLoader.construct_mapping)


def load_strict(text: str) -> Any:
    """The YAML document in `text`; yaml.YAMLError (with its line) when it is not valid or gives a key twice."""
    return yaml.load(text, Loader=StrictLoader)
