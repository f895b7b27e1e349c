"""Settings and curated list: loading, validation messages, and `baseline accept` rewriting."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ocwwatch.cli import main
from ocwwatch.config import (
    accept_baseline,
    load_config,
    load_resources,
    parse_resources,
    remove_entry,
    write_default_config,
)
from ocwwatch.errors import ConfigError
from ocwwatch.models import Metadata, Observation, Outcome, PageKind, PromiseCheck, Suggestion

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config"
AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

MINIMAL = """
[[resources]]
id = "a"
url = "https://example.org/a"
kind = "page"
"""


def write_config(folder: Path, settings: str = "", resources: str = MINIMAL) -> Path:
    (folder / "resources.toml").write_text(resources)
    path = folder / "ocwwatch.toml"
    path.write_text('resources = "resources.toml"\n' + settings)
    return path


def test_shipped_config_loads_seven_resources() -> None:
    """The repository's config/ holds the seven resources of the curated list."""
    config = load_config(CONFIG / "ocwwatch.toml", cwd=REPO)
    ids = [r.id for r in config.resources]
    assert ids == [
        "18.01sc",
        "18.02sc",
        "18.03sc",
        "strang-calculus",
        "strang-calculus-pdf",
        "highlights",
        "calculus-made-easy",
    ]
    assert config.settings.database == CONFIG / "../data/ocwwatch.db"


def test_packaged_defaults_equal_the_repository_config() -> None:
    """The list shipped inside the package is the same as config/ (one source of truth)."""
    for name in ("ocwwatch.toml", "resources.toml"):
        packaged = REPO / "ocwwatch" / "defaults" / name
        assert packaged.read_text() == (CONFIG / name).read_text(), name


def test_without_config_folder_uses_package_and_writes_under_cwd(tmp_path: Path) -> None:
    """With no config/ at hand, the packaged list is used and data goes under ./data."""
    config = load_config(None, cwd=tmp_path)
    assert len(config.resources) == 7
    assert config.settings.database == tmp_path / "data" / "ocwwatch.db"
    assert config.settings.reports_dir == tmp_path / "data" / "reports"


def test_strang_promises_list_sixteen_chapters() -> None:
    """The baseline carries the 16 chapter titles the article printed."""
    resources = {r.id: r for r in load_resources(CONFIG / "resources.toml")}
    (promise,) = resources["strang-calculus"].expected.promises
    assert len(promise.phrases) == 16
    assert promise.page == "pages/textbook/"


def test_db_option_overrides_settings(tmp_path: Path) -> None:
    """--db replaces the settings' database path."""
    path = write_config(tmp_path)
    config = load_config(path, cwd=tmp_path, database=tmp_path / "other.db")
    assert config.settings.database == tmp_path / "other.db"


BAD_SETTINGS = [
    ("colour = 1\n", "colour: unknown key"),
    ("[http]\nper_host_concurrency = 0\n", "http.per_host_concurrency"),
    ("[http]\ntimeout_seconds = -1\n", "http.timeout_seconds"),
    ('[http]\nretries = "three"\n', "http.retries"),
    ("[deep]\nmax_pages = -5\n", "deep.max_pages"),
    ('[schedule]\ncron = "every day"\n', "schedule.cron"),
    ('[schedule]\ntimezone = "Mars/Olympus"\n', "schedule.timezone"),
    ("[schedule]\njitter_seconds = -1\n", "schedule.jitter_seconds"),
    ("failures_before_finding = 0\n", "failures_before_finding"),
    ("[http\n", "not valid TOML"),
    # Ages turned into a timedelta: one past its range crashed every run after publishing.
    ("[retention]\nkeep_days = inf\n", "retention.keep_days: Input should be a finite number"),
    ("[retention]\nkeep_days = nan\n", "retention.keep_days"),
    ("[retention]\nkeep_days = 1e10\n", "retention.keep_days: Input should be less than"),
    ("[deep]\nrecheck_after_hours = inf\n", "deep.recheck_after_hours"),
    ("[deep]\nrecheck_after_hours = 1e12\n", "deep.recheck_after_hours"),
    ("[deep]\nwayback_miss_retry_days = 99999999999\n", "deep.wayback_miss_retry_days"),
    # Seconds: `inf` is a wait a silent server can make endless, `nan` a wait that never is.
    ("[http]\ntimeout_seconds = inf\n", "http.timeout_seconds: Input should be a finite number"),
    ("[http]\nper_host_interval_seconds = nan\n", "http.per_host_interval_seconds"),
    ("[notify]\ntimeout_seconds = inf\n", "notify.timeout_seconds"),
    ("[store]\nbusy_timeout_seconds = inf\n", "store.busy_timeout_seconds"),
    ("[store]\nbusy_timeout_seconds = 1e300\n", "store.busy_timeout_seconds"),
    ("lock_timeout_seconds = nan\n", "lock_timeout_seconds"),
    # Counts and sizes past what the run can use: they passed, then overflowed at run time.
    ("[schedule]\njitter_seconds = 1000000000000\n", "schedule.jitter_seconds"),
    ("[retention]\nkeep_runs = 100000000000000000000\n", "retention.keep_runs"),
    ("[http]\nmax_bytes = 10000000000000000000000\n", "http.max_bytes"),
    ("[deep]\nmax_pages = 99999999999999999999\n", "deep.max_pages"),
]


@pytest.mark.parametrize(("settings", "named"), BAD_SETTINGS)
def test_bad_settings_name_the_field(tmp_path: Path, settings: str, named: str) -> None:
    """Each malformed settings file fails with the file and the field in the message."""
    path = write_config(tmp_path, settings=settings)
    with pytest.raises(ConfigError) as caught:
        load_config(path, cwd=tmp_path)
    assert str(path) in str(caught.value)
    assert named in str(caught.value)


BAD_RESOURCES = [
    ('[[resources]]\nid = "a"\nkind = "page"\n', "resources[0] (id 'a'): url: Field required"),
    (MINIMAL + MINIMAL, "id 'a' is used twice"),
    (MINIMAL.replace('"page"', '"video"'), "resources[0] (id 'a'): kind"),
    (MINIMAL.replace("https://example.org/a", "ftp://example.org/a"), "url: 'ftp://"),
    (MINIMAL.replace("https://example.org/a", "example.org/a"), "not an absolute http(s) URL"),
    (MINIMAL.replace('id = "a"', 'id = "../../etc"'), "id: use letters"),
    # A password with a slash: no parser reads it, the error shows it redacted all the same.
    (
        MINIMAL.replace("https://example.org/a", "https://u:abc/def@example.org/a"),
        "url: 'https://u:***@example.org/a' is not an absolute http(s) URL",
    ),
    (MINIMAL + "colour = 'red'\n", "resources[0] (id 'a'): colour: unknown key"),
    (MINIMAL + "[resources.expected]\npages = 'many'\n", "expected.pages"),
    (MINIMAL + "[resources.expected]\nunits = 'Unit 1'\n", "expected.units"),
    ("resources = []\n", "resources"),
]


@pytest.mark.parametrize(("resources", "named"), BAD_RESOURCES)
def test_bad_resources_name_entry_and_field(tmp_path: Path, resources: str, named: str) -> None:
    """Each malformed curated list fails naming the file, the entry and the field."""
    path = write_config(tmp_path, resources=resources)
    with pytest.raises(ConfigError) as caught:
        load_config(path, cwd=tmp_path)
    assert str(tmp_path / "resources.toml") in str(caught.value)
    assert named in str(caught.value)


def test_missing_resources_file_is_named(tmp_path: Path) -> None:
    """A settings file that names a missing curated list says which file is missing."""
    path = write_config(tmp_path)
    (tmp_path / "resources.toml").unlink()
    with pytest.raises(ConfigError, match=r"resources\.toml: file not found"):
        load_config(path, cwd=tmp_path)


def test_init_writes_an_editable_copy_and_never_overwrites(tmp_path: Path) -> None:
    """`init` writes config/ under the folder once, then refuses to overwrite it."""
    written = write_default_config(tmp_path)
    assert [p.name for p in written] == ["ocwwatch.toml", "resources.toml"]
    assert len(load_config(tmp_path / "config" / "ocwwatch.toml", cwd=tmp_path).resources) == 7
    with pytest.raises(ConfigError, match="already exists"):
        write_default_config(tmp_path)


def observation(**update: object) -> Observation:
    base = Observation(
        id="18.01sc",
        url="https://ocw.mit.edu/courses/mathematics/18-01sc-single-variable-calculus-fall-2010/",
        outcome=Outcome.MOVED,
        metadata=Metadata(
            page_kind=PageKind.OCW_COURSE,
            title="Single Variable Calculus",
            course_number="18.01SC",
            term="Fall 2010",
            instructors=("Prof. David Jerison",),
        ),
        promises=(
            PromiseCheck(
                text='Interactive Java applets ("Mathlets") to reinforce key concepts',
                holds=False,
                missing=("Java Applets",),
            ),
        ),
        suggestion=Suggestion(
            url="https://ocw.mit.edu/courses/18-01sc-single-variable-calculus-fall-2010/",
            reason="permanent redirect (301)",
        ),
        observed_at=AT,
    )
    return base.model_copy(update=update)


def test_accept_rewrites_url_and_promises_keeping_comments(tmp_path: Path) -> None:
    """Accept writes the new URL and broken promises, and every comment survives."""
    path = tmp_path / "resources.toml"
    shutil.copy(CONFIG / "resources.toml", path)
    before = path.read_text()
    changed, skipped = accept_baseline(path, {"18.01sc": observation()})
    assert skipped == []
    after = path.read_text()
    assert any("url" in line for line in changed)
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    assert comments == [line for line in after.splitlines() if line.lstrip().startswith("#")]
    resources = {r.id: r for r in load_resources(path)}
    accepted = resources["18.01sc"]
    assert accepted.url.startswith("https://ocw.mit.edu/courses/18-01sc-")
    java = [p for p in accepted.expected.promises if "Java" in p.text]
    assert [p.holds for p in java] == [False]
    untouched = {r.id: r for r in load_resources(CONFIG / "resources.toml")}["18.02sc"]
    assert resources["18.02sc"].model_dump(exclude={"location"}) == untouched.model_dump(
        exclude={"location"}
    )


def test_accept_dead_resource_takes_only_the_url(tmp_path: Path) -> None:
    """A dead resource's metadata is of the wrong page, so only its suggested URL is taken."""
    path = tmp_path / "resources.toml"
    shutil.copy(CONFIG / "resources.toml", path)
    dead = observation(
        outcome=Outcome.DEAD, metadata=Metadata(page_kind=PageKind.HTML, title="Textbook")
    )
    accept_baseline(path, {"18.01sc": dead})
    accepted = {r.id: r for r in load_resources(path)}["18.01sc"]
    assert accepted.expected.title == "Single Variable Calculus"
    assert accepted.url.startswith("https://ocw.mit.edu/courses/18-01sc-")


def test_accept_leaves_an_entry_whose_url_was_edited_since_the_run(tmp_path: Path) -> None:
    """The run observed the old URL; a maintainer has since written another. That entry is not
    the one observed: it keeps the edit, and accept says why (a document list does the same)."""
    path = tmp_path / "resources.toml"
    shutil.copy(CONFIG / "resources.toml", path)
    edited = "https://ocw.mit.edu/courses/18-01-single-variable-calculus-fall-2006/"
    text = path.read_text().replace(observation().url, edited, 1)
    path.write_text(text)
    changed, skipped = accept_baseline(path, {"18.01sc": observation()})
    assert changed == []
    assert skipped == [
        f"18.01sc: the list has {edited} since the run observed {observation().url}; "
        "not changed (check again to judge the new URL)"
    ]
    assert path.read_text() == text


def test_a_list_of_inline_tables_is_accepted_into_and_removed_from(tmp_path: Path) -> None:
    """`resources = [{...}]` is read like `[[resources]]`; accept and remove edit it alike
    (before, accept changed nothing and remove found no entry, both without a word)."""
    path = tmp_path / "resources.toml"
    old = observation().url
    path.write_text(
        "resources = [\n"
        f'  {{ id = "18.01sc", url = "{old}", kind = "ocw-course", '
        'expected = { promises = [{ text = "Interactive Java applets (\\"Mathlets\\") to '
        'reinforce key concepts" }] } },\n'
        '  { id = "b", url = "https://b.example/", kind = "page" },\n'
        "]\n"
    )
    changed, skipped = accept_baseline(path, {"18.01sc": observation()})
    assert (len(changed), skipped) == (2, [])
    accepted = {r.id: r for r in load_resources(path)}["18.01sc"]
    assert accepted.url == observation().suggestion.url  # type: ignore[union-attr]
    assert [p.holds for p in accepted.expected.promises] == [False]
    assert remove_entry(path, "b") == "https://b.example/"
    assert [r.id for r in load_resources(path)] == ["18.01sc"]


def test_accept_unknown_id_is_an_error(tmp_path: Path) -> None:
    """Accepting an id the latest run did not observe fails and leaves the file alone."""
    path = tmp_path / "resources.toml"
    shutil.copy(CONFIG / "resources.toml", path)
    with pytest.raises(ConfigError, match="no-such-id"):
        accept_baseline(path, {"18.01sc": observation()}, ids=["no-such-id"])
    assert path.read_text() == (CONFIG / "resources.toml").read_text()


def test_accepted_promise_lands_in_its_own_table_not_below_the_next_comment(
    tmp_path: Path,
) -> None:
    """`holds = false` is written after the promise's keys, above the comment that follows."""
    path = tmp_path / "resources.toml"
    shutil.copy(CONFIG / "resources.toml", path)
    url = "https://ocw.mit.edu/courses/mathematics/18-03sc-differential-equations-fall-2011/"
    broken = observation(id="18.03sc", url=url)
    accept_baseline(path, {"18.03sc": broken})
    text = path.read_text()
    section = text[text.index('id = "18.03sc"') : text.index('id = "strang-calculus"')]
    before_comment, after_comment = section.split("# --- Gilbert Strang, Calculus")
    assert "holds = false" in before_comment
    assert "holds" not in after_comment


def test_accept_keeps_the_lists_mode_and_owner(tmp_path: Path) -> None:
    """The rewritten list keeps its mode (0o640 here) and, when run as root, its owner."""
    path = tmp_path / "resources.toml"
    shutil.copy(CONFIG / "resources.toml", path)
    path.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(path, 1234, 5678)
    before = path.stat()
    accept_baseline(path, {"18.01sc": observation()})
    after = path.stat()
    assert path.read_text() != (CONFIG / "resources.toml").read_text()
    assert oct(after.st_mode & 0o7777) == oct(0o640)
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)


def test_accept_writes_through_a_symlinked_list_keeping_the_link(tmp_path: Path) -> None:
    """A list that is a symlink stays one; the file it points to is the one rewritten."""
    real = tmp_path / "shared" / "resources.toml"
    real.parent.mkdir()
    shutil.copy(CONFIG / "resources.toml", real)
    link = tmp_path / "config" / "resources.toml"
    link.parent.mkdir()
    link.symlink_to(Path("..") / "shared" / "resources.toml")
    accept_baseline(link, {"18.01sc": observation()})
    assert link.is_symlink()
    assert os.readlink(link) == str(Path("..") / "shared" / "resources.toml")
    assert load_resources(real)[0].url.startswith("https://ocw.mit.edu/courses/18-01sc-")
    assert sorted(p.name for p in tmp_path.rglob("*.tmp")) == []


def test_a_toml_entry_knows_where_its_url_stands() -> None:
    """Reports and annotations point into a TOML list too: the `url` value's line and column."""
    path = CONFIG / "resources.toml"
    lines = path.read_text(encoding="utf-8").splitlines()
    for resource in load_resources(path):
        assert resource.location is not None
        assert resource.location.file == str(path)
        line = lines[resource.location.line - 1]
        assert line[resource.location.column - 1 :].startswith(resource.url)
        assert line.lstrip().startswith("url")


def test_deep_workers_follow_the_per_host_concurrency_unless_set() -> None:
    """Unset, `[deep] workers` is 16 per host slot (capped at 256); a set value is kept."""
    from ocwwatch.config import DeepSettings
    from ocwwatch.pipeline.options import deep_options

    assert deep_options(DeepSettings(), 2).workers == 32
    assert deep_options(DeepSettings(), 4).workers == 64
    assert deep_options(DeepSettings(), 64).workers == 256
    assert deep_options(DeepSettings(workers=5), 4).workers == 5


DEEP = "deep = " + "[" * 1000 + "]" * 1000 + "\n"


@pytest.mark.parametrize("which", ["ocwwatch.toml", "resources.toml"])
def test_toml_nested_too_deeply_is_a_clean_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    """Arrays nested past Python's recursion limit make tomllib raise RecursionError: exit 2
    with one line naming the file, as for any other TOML error, not a traceback and exit 3."""
    path = write_config(tmp_path)
    with (tmp_path / which).open("a") as file:
        file.write(DEEP)
    code = main(["check", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        f"ocwwatch: {tmp_path / which}: not valid TOML: "
        "arrays or inline tables nested too deeply to read\n"
    )


def test_a_rewritten_list_nested_too_deeply_is_refused() -> None:
    """`baseline accept`'s check of its own output says so too, naming the list."""
    with pytest.raises(
        ConfigError, match=r"list\.toml: the rewritten list would be invalid: arrays"
    ):
        parse_resources(MINIMAL + DEEP, source="list.toml")


@pytest.mark.parametrize("shape", ["loop", "through-a-file"])
def test_a_list_path_that_cannot_be_opened_is_a_config_error(tmp_path: Path, shape: str) -> None:
    """A symlink loop, or a path through a file: one line naming the path, not a traceback."""
    if shape == "loop":
        path = tmp_path / "resources.toml"
        path.symlink_to(path)
    else:
        (tmp_path / "o.toml").write_text("")
        path = tmp_path / "o.toml" / "resources.toml"
    with pytest.raises(ConfigError, match=f"^{path}: cannot be read: "):
        load_resources(path)


def test_a_byte_order_mark_is_named(tmp_path: Path) -> None:
    """An editor's "UTF-8 with BOM" fails at line 1, column 1; the error says why."""
    path = tmp_path / "resources.toml"
    path.write_bytes(b"\xef\xbb\xbf" + (CONFIG / "resources.toml").read_bytes())
    with pytest.raises(ConfigError, match="byte order mark"):
        load_resources(path)


def test_a_document_entry_with_credentials_is_named_by_its_place(tmp_path: Path) -> None:
    """A document has no `resources[1]`: its entry is named by line and column."""
    path = tmp_path / "list.md"
    path.write_text("- [A](https://a.example/)\n\n- [B](https://u:pw@b.example/)\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3:7 \(id 'b'\): url: .*credentials"):
        load_resources(path)
