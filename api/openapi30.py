"""The OpenAPI document as version 3.0, for OGC clients and validators that do not read 3.1."""

from __future__ import annotations

import copy


def downgrade(document: dict) -> dict:
    """FastAPI writes OpenAPI 3.1; rewrite the few 3.1-only constructs it uses into 3.0 form."""
    doc = copy.deepcopy(document)
    doc["openapi"] = "3.0.3"
    _walk(doc)
    return doc


def _walk(node) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item)
        return
    if not isinstance(node, dict):
        return
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            node.pop(key)
            node["nullable"] = True
            if len(rest) == 1:
                node.update(rest[0])
            else:
                node[key] = rest
    if node.get("type") == "null":
        node.pop("type")
        node["nullable"] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "examples" in node and isinstance(node["examples"], list) and "schema" not in node:
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node.get(bound), bool):
            node[flag] = node.pop(bound)
            node[bound] = True
    for value in node.values():
        _walk(value)
