"""The one rewriter of pydantic's validation errors into `where: what` lines for people.

Every file ocwwatch reads (settings, the curated list, a scenario, an archive's answer) reports
its problems in this form: `resources[2] (id '18.01sc'): expected.title: <problem>`. Owns no I/O.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

UNKNOWN_KEY = "unknown key (check its spelling; the README describes every key)"


def describe_validation(source: str, exc: ValidationError, data: Any = None) -> list[str]:
    """One line per error: `source: where: problem`. `data` (what was validated) lets an entry
    of an array be named by its `id` as well as its index."""
    lines = []
    for error in exc.errors():
        where = describe_location(error["loc"], data)
        message = error["msg"].removeprefix("Value error, ").replace("valid tuple", "TOML array")
        if error["type"] == "extra_forbidden":
            message = UNKNOWN_KEY
        lines.append(f"{source}: {where}: {message}" if where else f"{source}: {message}")
    return lines


def describe_location(loc: tuple[int | str, ...], data: Any) -> str:
    """`resources[2] (id '18.01sc'): expected.title` from pydantic's location tuple."""
    where = ""
    node: Any = data
    for key in loc:
        if isinstance(key, int):
            entry_id = node[key].get("id") if _indexable(node, key) else None
            where += f"[{key}]" + (f" (id {entry_id!r}):" if isinstance(entry_id, str) else ":")
        else:
            where += ("" if not where or where.endswith(":") else ".") + str(key)
        node = node[key] if _indexable(node, key) else None
    return where.replace(":", ": ").strip().removesuffix(":")


def _indexable(node: Any, key: int | str) -> bool:
    if isinstance(key, int):
        return isinstance(node, list) and 0 <= key < len(node) and isinstance(node[key], dict)
    return isinstance(node, dict) and key in node
