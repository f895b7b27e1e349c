"""Files ocwwatch writes: never through a planted symlink, atomically, with clear errors.

The attacks are links planted where ocwwatch writes (a report, a temporary, the lock file), each
pointing at a victim file whose content must come out unchanged.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import REPO, TODAY, live_site, run

from ocwwatch.errors import FileWriteError
from ocwwatch.fetch import Recording, save_scenario
from ocwwatch.files import open_lock_file, rewrite_file, write_file
from ocwwatch.store import Store

VICTIM_TEXT = "precious, not ocwwatch's\n"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file outside ocwwatch's folders that a planted link points to."""
    path = tmp_path / "victim.txt"
    path.write_text(VICTIM_TEXT)
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A private copy of the repository's config/, with data/ beside it."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    return tmp_path / "config" / "ocwwatch.toml"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_file_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    """A write replaces the whole file and leaves no temporary behind."""
    target = tmp_path / "report.md"
    target.write_text("old")
    write_file(target, b"new", what="the report")
    assert target.read_bytes() == b"new"
    assert leftovers(tmp_path) == []


def test_symlink_at_the_target_is_refused_and_its_target_untouched(
    tmp_path: Path, victim: Path
) -> None:
    """A link planted where a report goes is refused by name; the file it points to is kept."""
    target = tmp_path / "latest.md"
    target.symlink_to(victim)
    with pytest.raises(FileWriteError) as refused:
        write_file(target, b"report", what="the report")
    assert str(refused.value) == (
        f"{target}: cannot write the report: it is a symlink, and ocwwatch does not write"
        " through links here; remove it"
    )
    assert victim.read_text() == VICTIM_TEXT
    assert target.is_symlink()
    assert leftovers(tmp_path) == []


def test_symlink_at_the_old_fixed_temporary_name_is_never_followed(
    tmp_path: Path, victim: Path
) -> None:
    """A link at `.latest.md.tmp` (the name temporaries once had) is neither used nor followed."""
    planted = tmp_path / ".latest.md.tmp"
    planted.symlink_to(victim)
    write_file(tmp_path / "latest.md", b"report", what="the report")
    assert (tmp_path / "latest.md").read_bytes() == b"report"
    assert victim.read_text() == VICTIM_TEXT
    assert planted.is_symlink()


def test_symlink_at_a_guessed_temporary_name_is_skipped(
    tmp_path: Path, victim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a correctly guessed temporary name is never opened: O_EXCL moves on to another."""
    names: Iterator[str] = iter(["guessed", "fresh"])
    monkeypatch.setattr(secrets, "token_hex", lambda _n: next(names))
    (tmp_path / ".latest.md.guessed.tmp").symlink_to(victim)
    write_file(tmp_path / "latest.md", b"report", what="the report")
    assert (tmp_path / "latest.md").read_bytes() == b"report"
    assert victim.read_text() == VICTIM_TEXT


def test_read_only_folder_is_one_clear_error(tmp_path: Path) -> None:
    """A folder that refuses new files gives FileWriteError naming the file and the errno."""
    missing = tmp_path / "no-such-folder" / "index.html"
    with pytest.raises(FileWriteError, match=r"index\.html: cannot write the report: .*Errno 2"):
        write_file(missing, b"page", what="the report")


def test_lock_file_symlink_is_refused_and_its_target_untouched(store: Store, victim: Path) -> None:
    """A link planted at `<db>.lock` is refused; the pid is never written into its target."""
    store.lock_path.symlink_to(victim)
    with pytest.raises(FileWriteError, match="it is a symlink"), store.lock(timeout_seconds=1):
        pass
    assert victim.read_text() == VICTIM_TEXT


def test_lock_file_hard_link_is_refused(store: Store, victim: Path) -> None:
    """A hard link at `<db>.lock` is refused too: truncating it would truncate the victim."""
    os.link(victim, store.lock_path)
    with pytest.raises(FileWriteError, match="not a plain file of its own"):
        open_lock_file(store.lock_path)
    assert victim.read_text() == VICTIM_TEXT


def test_rewrite_writes_through_a_symlink_keeping_the_link(tmp_path: Path) -> None:
    """Rewriting a symlinked file rewrites the file it points to; the link stays as it was."""
    real = tmp_path / "elsewhere" / "list.toml"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "list.toml"
    link.symlink_to(Path("elsewhere") / "list.toml")
    rewrite_file(link, b"new", what="the list")
    assert link.is_symlink()
    assert os.readlink(link) == str(Path("elsewhere") / "list.toml")
    assert real.read_bytes() == b"new"
    assert leftovers(tmp_path) == leftovers(real.parent) == []


def test_rewrite_keeps_mode_and_owner(tmp_path: Path) -> None:
    """The rewritten file keeps the old one's mode, whatever the umask, and (as root) owner."""
    path = tmp_path / "list.toml"
    path.write_text("old")
    path.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(path, 1234, 5678)
    before = path.stat()
    old_umask = os.umask(0o077)
    try:
        rewrite_file(path, b"new", what="the list")
    finally:
        os.umask(old_umask)
    after = path.stat()
    assert after.st_ino != before.st_ino  # replaced, not written in place
    assert oct(after.st_mode & 0o7777) == oct(0o640)
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)


def test_check_refuses_a_symlinked_report_in_one_line(
    capsys: pytest.CaptureFixture[str], config: Path, victim: Path
) -> None:
    """`check` with a link planted at reports/latest.md exits 3 with one line; the target stays,
    and the run, stored complete, stays complete (issue 11)."""
    # As the shipped settings name it, in the replay folder a --replay run writes to.
    reports = config.parent / ".." / "data" / "reports" / "replay"
    reports.mkdir(parents=True)
    (reports / "latest.md").symlink_to(victim)
    code, _, err = run(capsys, "check", "--config", config, "--replay", TODAY)
    assert code == 3
    assert err.splitlines() == [
        f"ocwwatch: {reports / 'latest.md'}: cannot write the report: it is a symlink,"
        " and ocwwatch does not write through links here; remove it; run 1 is stored complete"
        " (`ocwwatch report 1` prints it)"
    ]
    assert victim.read_text() == VICTIM_TEXT


def test_check_refuses_a_symlinked_lock_file_in_one_line(
    capsys: pytest.CaptureFixture[str], config: Path, victim: Path
) -> None:
    """`check` with a link planted at the lock path exits 3 with one line; the target stays."""
    data = config.parent / ".." / "data" / "replay"  # as the shipped settings name it, replayed
    data.mkdir(parents=True)
    (data / "ocwwatch.db.lock").symlink_to(victim)
    code, _, err = run(capsys, "check", "--config", config, "--replay", TODAY)
    assert code == 3
    assert err.splitlines() == [
        f"ocwwatch: {data / 'ocwwatch.db.lock'}: cannot write the lock file: it is a symlink,"
        " and ocwwatch does not write through links here; remove it"
    ]
    assert victim.read_text() == VICTIM_TEXT


def test_check_never_follows_links_at_the_old_temporary_names(
    capsys: pytest.CaptureFixture[str], config: Path, victim: Path
) -> None:
    """Links at the fixed names temporaries once had are never written through by `check`."""
    reports = config.parent / ".." / "data" / "reports" / "replay"
    reports.mkdir(parents=True)
    planted = [reports / ".latest.md.tmp", reports / ".run-1.json.staged.tmp"]
    for link in planted:
        link.symlink_to(victim)
    assert run(capsys, "check", "--config", config, "--replay", TODAY)[0] == 1
    assert (reports / "latest.md").read_text().startswith("# ocwwatch report: run 1")
    assert victim.read_text() == VICTIM_TEXT


def read_only(folder: Path) -> list[str]:
    """A command prefix that runs with `folder` bind-mounted read-only, in a private user and
    mount namespace (so root is refused too, and nothing outside the command sees the mount)."""
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    prefix = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh"]
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to make a folder read-only for root")
    probe = subprocess.run([*prefix, str(folder), "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"no user namespaces here: {probe.stderr.decode().strip()}")
    return [*prefix, str(folder)]


def test_accept_on_a_read_only_folder_exits_2_in_one_line(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """`baseline accept` with the list on a read-only mount exits 2 naming it; nothing changes."""
    with live_site(config):
        assert run(capsys, "check", "--config", config)[0] == 1
    resources = config.parent / "resources.toml"
    before = resources.read_text()
    command = [sys.executable, "-m", "ocwwatch", "-q", "baseline", "accept", "--config", config]
    done = subprocess.run(
        [*read_only(config.parent), *map(str, command)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"ocwwatch: {resources.resolve()}: cannot write the list: folder is read-only (Errno 30)"
    ]
    assert resources.read_text() == before


def test_saving_a_scenario_refuses_a_symlinked_body(tmp_path: Path, victim: Path) -> None:
    """`record` writes bodies with the same rule: a link planted at a body's path is refused."""
    folder = tmp_path / "recorded"
    (folder / "bodies").mkdir(parents=True)
    (folder / "bodies" / "000.html").symlink_to(victim)
    page = Recording(
        url="https://a.example/", status=200, headers={"content-type": "text/html"}, body=b"<p>"
    )
    with pytest.raises(FileWriteError, match=r"000\.html: cannot write the recorded body"):
        save_scenario(folder, name="recorded", recordings=[page])
    assert victim.read_text() == VICTIM_TEXT
