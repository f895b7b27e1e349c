"""The README's configuration table against the settings models (issue 16): every key the
config accepts is documented, every documented key is accepted, and the defaults agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ocwwatch.config import DeepOverride, Settings

README = Path(__file__).resolve().parent.parent / "README.md"
ROW = re.compile(
    r"^\| `(?:\[(?P<table>[^\]]+)\] )?(?P<key>[a-z_]+)`(?P<more>[^|]*)\|\s*(?P<default>[^|]*?)\s*\|"
)
NOT_KEYS = {"source"}  # the settings file's own path, set by the loader
# Kept only to refuse it with a message that says where it moved ([http]).
REFUSED = {("deep", "allowed_private_hosts")}


def documented() -> dict[tuple[str, str], str]:
    """(table, key) -> the default column, from the README's "Configuration" table."""
    text = README.read_text(encoding="utf-8")
    section = text[
        text.index("## Configuration") : text.index("The curated list (`resources.toml`)")
    ]
    rows: dict[tuple[str, str], str] = {}
    for line in section.splitlines():
        found = ROW.match(line)
        if found is None:
            continue
        table = found["table"] or ""
        rows[(table, found["key"])] = found["default"].strip()
        rows.update({(table, extra): "" for extra in re.findall(r"`([a-z_]+)`", found["more"])})
    return rows


def accepted() -> dict[tuple[str, str], Any]:
    """(table, key) -> the default, for every key the settings models accept."""
    keys: dict[tuple[str, str], Any] = {}
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, BaseModel):
            keys.update({(name, sub): f.default for sub, f in type(default).model_fields.items()})
        elif name not in NOT_KEYS:
            keys[("", name)] = default
    del keys[("deep", "resources")]  # a table of per-resource tables, documented as one row
    keys.update(
        {('deep.resources."<id>"', key): f.default for key, f in DeepOverride.model_fields.items()}
    )
    return {key: value for key, value in keys.items() if key not in REFUSED}


def test_every_setting_is_documented_and_every_documented_key_exists() -> None:
    """The table and the models name the same keys, so neither can drift from the other."""
    assert set(documented()) == set(accepted())


def test_documented_defaults_are_the_models_defaults() -> None:
    """Where the table gives a TOML value as the default, it is the model's default."""
    models = accepted()
    for key, column in documented().items():
        literal = re.fullmatch(r"`([^`]+)`", column)
        if literal is None or "<" in literal[1]:
            continue  # "none", a described default, or a template like the user agent
        value = tomllib.loads(f"v = {literal[1]}")["v"]
        default = models[key]
        expected = list(default) if isinstance(default, tuple) else default
        assert value == (str(expected) if isinstance(expected, Path) else expected), key
