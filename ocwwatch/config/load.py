"""Reading the settings and the curated list: TOML in, validated records out.

Errors name the file, the entry and the field; pydantic's ValidationError and tomllib's errors
never leave this module.
"""

from __future__ import annotations

import bisect
import logging
import tomllib
from collections.abc import Sequence
from importlib import resources as package_files
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ocwwatch.config.settings import ID_PATTERN, Config, CuratedList, Settings, Sidecar
from ocwwatch.errors import ConfigError, FileWriteError
from ocwwatch.files import write_file
from ocwwatch.lists import is_document, load_document_list
from ocwwatch.models import Location, Resource
from ocwwatch.urls import InvalidURLError, parse_url, redact_url
from ocwwatch.validation import describe_validation

log = logging.getLogger(__name__)

DEFAULT_SETTINGS = Path("config") / "ocwwatch.toml"
CONFIG_FILES = ("ocwwatch.toml", "resources.toml")


# What a file nested past Python's recursion limit (a few hundred arrays in arrays) is told:
# tomllib raises RecursionError there, which was a traceback and exit 3.
TOO_DEEP = "arrays or inline tables nested too deeply to read"


def read_toml(path: Path) -> dict[str, Any]:
    """Parse one TOML file, turning every failure into a ConfigError that names the file."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{path}: is a folder, expected a TOML file") from exc
    except PermissionError as exc:
        raise ConfigError(f"{path}: cannot be read (permission denied)") from exc
    except OSError as exc:  # a symlink loop, a path through a file, an I/O error
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}{_bom_hint(path)}") from exc
    except RecursionError:  # tomllib recurses per nested array or inline table
        raise ConfigError(f"{path}: not valid TOML: {TOO_DEEP}") from None


def _bom_hint(path: Path) -> str:
    """Why a file an editor saved "UTF-8 with BOM" fails at line 1, column 1: TOML allows no
    byte order mark."""
    try:
        with path.open("rb") as handle:
            bom = handle.read(3) == b"\xef\xbb\xbf"
    except OSError:
        return ""
    return (
        "; the file starts with a byte order mark (BOM): save it as UTF-8 without one"
        if bom
        else ""
    )


def describe_errors(path: Path, exc: ValidationError, data: dict[str, Any]) -> str:
    """Rewrite pydantic's errors as `file: entry: field: problem` lines."""
    return "\n".join(describe_validation(str(path), exc, data))


Model = TypeVar("Model", bound=BaseModel)


def read_validated(path: Path, model: type[Model]) -> Model:
    """One TOML file read into `model`; every problem a ConfigError naming file and field."""
    data = read_toml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_errors(path, exc, data)) from None


def _check_resource(resource: Resource, index: int, path: Path) -> None:
    # A document's entry is named by its place (`list.md:6:8`); a TOML list's by its index.
    place = resource.location if is_document(path) else None
    where = (
        f"{place} (id {resource.id!r})"
        if place
        else f"{path}: resources[{index}] (id {resource.id!r})"
    )
    if not ID_PATTERN.match(resource.id):
        raise ConfigError(
            f"{where}: id: use letters, digits, '.', '_' or '-' (at most 64), "
            "starting with a letter or digit"
        )
    try:
        url = parse_url(resource.url)
    except InvalidURLError:
        url = None
    if url is None or not url.is_web:
        shown = redact_url(resource.url)
        raise ConfigError(f"{where}: url: {shown!r} is not an absolute http(s) URL")
    if url.has_credentials:
        raise ConfigError(
            f"{where}: url: {url.href!r} holds credentials; ocwwatch never sends them and "
            "would publish them in its reports: remove the user name and password"
        )


def load_resources(path: Path) -> tuple[Resource, ...]:
    """Read and validate the curated list: a TOML list, or a Markdown or HTML document whose links
    are the entries (ocwwatch.lists)."""
    if is_document(path):
        resources = with_sidecar(path, load_document_list(path))
        for index, resource in enumerate(resources):
            _check_resource(resource, index, path)
        return resources
    curated = read_validated(path, CuratedList)
    for index, resource in enumerate(curated.resources):
        _check_resource(resource, index, path)
    return with_toml_locations(path, curated.resources)


def with_toml_locations(path: Path, resources: tuple[Resource, ...]) -> tuple[Resource, ...]:
    """Each entry's `file:line:col`, at its `url` value, so reports and annotations point into
    a TOML list as they do into a document. An entry whose URL is not written literally (an
    escape in the string) keeps none."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return resources
    starts = [0] + [index + 1 for index, char in enumerate(text) if char == "\n"]
    placed, search_from = [], 0
    for resource in resources:
        found = -1
        for quote in ('"', "'"):
            at = text.find(f"{quote}{resource.url}{quote}", search_from)
            if at != -1 and (found == -1 or at < found):
                found = at
        if found == -1:
            placed.append(resource)
            continue
        offset = found + 1
        line = bisect.bisect_right(starts, offset)
        column = offset - starts[line - 1] + 1
        where = Location(file=str(path), line=line, column=column, length=len(resource.url))
        placed.append(resource.model_copy(update={"location": where}))
        search_from = offset
    return tuple(placed)


def sidecar_path(document: Path) -> Path:
    """Where a document list's expectations live: `README.md` -> `README.ocwwatch.toml`."""
    return document.with_name(f"{document.stem}.ocwwatch.toml")


def with_sidecar(document: Path, resources: tuple[Resource, ...]) -> tuple[Resource, ...]:
    """The document's entries with what its sidecar file says of them, if it has one. An
    entry of the sidecar that names no link of the document is an error, not ignored: a typo
    would otherwise drop an expectation without a word."""
    path = sidecar_path(document)
    if not path.exists():
        return resources
    sidecar = read_validated(path, Sidecar)
    by_key = {key: r for r in resources for key in (r.id, r.url)}
    updates: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(sidecar.resources):
        key = entry.id if entry.id is not None else entry.url
        resource = by_key.get(key or "")
        if resource is None:
            what = f"id {entry.id!r}" if entry.id is not None else f"url {entry.url!r}"
            raise ConfigError(f"{path}: resources[{index}]: {what} is not a link of {document}")
        update = updates.setdefault(resource.id, {})
        update["expected"] = entry.expected
        update |= {"kind": entry.kind} if entry.kind is not None else {}
        update |= {"name": entry.name} if entry.name is not None else {}
    return tuple(r.model_copy(update=updates.get(r.id, {})) for r in resources)


def load_settings(path: Path) -> Settings:
    """Read and validate the settings file; relative paths become relative to it."""
    settings = read_validated(path, Settings)
    folder = path.parent
    return settings.model_copy(
        update={
            "resources": folder / settings.resources,
            "database": folder / settings.database,
            "reports_dir": folder / settings.reports_dir,
            "source": path,
        }
    )


def load_config(
    path: Path | None,
    *,
    cwd: Path,
    database: Path | None = None,
    curated: Path | None = None,
) -> Config:
    """Settings and curated list for one run (`curated` replaces the settings' `resources`).

    Without `path`, uses `config/ocwwatch.toml` under `cwd` if present, else the list shipped
    in the package with the database and reports under `cwd/data` (never inside the package).
    """
    if path is None and not (cwd / DEFAULT_SETTINGS).is_file():
        settings = _packaged_settings(cwd)
    else:
        settings = load_settings(path if path is not None else cwd / DEFAULT_SETTINGS)
    if database is not None:
        settings = settings.model_copy(update={"database": database})
    if curated is not None:
        settings = settings.model_copy(update={"resources": curated})
    resources = load_resources(settings.resources)
    _check_deep_overrides(settings, resources)
    return Config(settings=settings, resources=resources)


def _check_deep_overrides(settings: Settings, resources: Sequence[Resource]) -> None:
    """An override for an id the list does not have is a typo; say which one."""
    known = {resource.id for resource in resources}
    for resource_id in settings.deep.resources:
        if resource_id not in known:
            raise ConfigError(
                f"{settings.source}: deep.resources.{resource_id}: no resource with this id in "
                f"{settings.resources}"
            )


def _packaged_settings(cwd: Path) -> Settings:
    folder = package_files.files("ocwwatch") / "defaults"
    settings_path = Path(str(folder / "ocwwatch.toml"))
    log.info("no %s here: using the curated list shipped with ocwwatch", DEFAULT_SETTINGS)
    settings = load_settings(settings_path)
    return settings.model_copy(
        update={"database": cwd / "data" / "ocwwatch.db", "reports_dir": cwd / "data" / "reports"}
    )


def is_packaged(path: Path) -> bool:
    """Whether `path` is one of the files shipped inside ocwwatch (an upgrade replaces them,
    and a system-wide install cannot write them): never a list to edit (issue 16)."""
    folder = Path(str(package_files.files("ocwwatch") / "defaults")).resolve()
    return path.resolve().parent == folder


def write_default_config(folder: Path) -> list[Path]:
    """Copy the packaged settings and curated list into `folder/config` (never overwriting)."""
    source = package_files.files("ocwwatch") / "defaults"
    target = folder / "config"
    written = []
    for name in CONFIG_FILES:
        destination = target / name
        if destination.exists() or destination.is_symlink():
            raise ConfigError(f"{destination}: already exists; not overwriting it")
        target.mkdir(parents=True, exist_ok=True)
        try:
            write_file(destination, (source / name).read_bytes(), what="the configuration")
        except FileWriteError as exc:
            raise ConfigError(str(exc)) from exc
        written.append(destination)
    return written


def parse_resources(text: str, *, source: str) -> Sequence[Resource]:
    """Validate curated-list text (used by `baseline accept` to check its own output)."""
    try:
        data = tomllib.loads(text)
        resources = CuratedList.model_validate(data).resources
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigError(f"{source}: the rewritten list would be invalid: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: the rewritten list would be invalid: {TOO_DEEP}") from None
    for index, resource in enumerate(resources):
        _check_resource(resource, index, Path(source))
    return resources


def refuse_packaged_list(path: Path) -> None:
    """Without a config the list is the one shipped inside ocwwatch (issue 16): an upgrade
    would undo an edit and a system-wide install cannot take it. Say how to get one's own."""
    if is_packaged(path):
        raise ConfigError(
            f"{path}: this is the list shipped inside ocwwatch (no config/ocwwatch.toml here), "
            "and ocwwatch does not edit it: run `ocwwatch init` for an editable copy in "
            "./config/ (or give --config PATH or --list FILE)"
        )
