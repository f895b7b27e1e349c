"""What the machine around a run may throw at it (issue 11): closed output pipes, a bad proxy
variable, AES-encrypted PDFs. Real subprocesses for the pipes; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfWriter
from support.cli import REPO, TODAY
from support.faultserver import refused_url

from ocwwatch.cli import main
from ocwwatch.extract.pdf import extract_pdf

ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def complete_runs(database: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return db.execute("SELECT id, status FROM runs").fetchall()


def test_closed_stdout_and_stderr_do_not_fail_the_run(config: Path) -> None:
    """stdout and stderr on a pipe nobody reads (its reader closed before the run): the run
    completes, is stored complete with its report files, and exits with the run's own code."""
    reader, writer = os.pipe()
    os.close(reader)
    command = [sys.executable, "-m", "ocwwatch", "check", "--config", str(config)]
    try:
        done = subprocess.run(
            [*command, "--replay", str(TODAY)],
            stdout=writer,
            stderr=writer,
            env=ENV,
            timeout=120,
            check=False,
        )
    finally:
        os.close(writer)
    data = config.parent.parent / "data"  # a replay's own database and reports (issue 16)
    assert complete_runs(data / "replay" / "ocwwatch.db") == [(1, "complete")]
    assert (data / "reports" / "replay" / "run-1.md").exists()
    assert done.returncode == 1  # the replay's findings, as with an open stdout


def test_head_of_the_output_leaves_the_run_complete(config: Path) -> None:
    """`ocwwatch check 2>&1 | head -2`: two lines shown, the run stored complete, no traceback."""
    command = f"{sys.executable} -m ocwwatch -v check --config {config} --replay {TODAY} 2>&1"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command + " | head -2"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        check=False,
    )
    assert len(done.stdout.splitlines()) == 2
    assert "Traceback" not in done.stdout
    assert done.returncode == 1  # ocwwatch's own code through pipefail: findings, not 3
    replay_db = config.parent.parent / "data" / "replay" / "ocwwatch.db"
    assert complete_runs(replay_db) == [(1, "complete")]


def test_a_bad_proxy_variable_is_one_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS_PROXY=not a url: one line naming the variable, exit 2, no database touched."""
    (tmp_path / "ocwwatch.toml").write_text('resources = "resources.toml"\ndatabase = "x.db"\n')
    (tmp_path / "resources.toml").write_text(
        f'[[resources]]\nid = "a"\nurl = "{refused_url()}"\nkind = "page"\n'
    )
    monkeypatch.setenv("HTTPS_PROXY", "not a url")
    code = main(["-q", "check", "--config", str(tmp_path / "ocwwatch.toml")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [
        "ocwwatch: environment: HTTPS_PROXY='not a url': not a proxy URL; "
        "write scheme://host:port, e.g. http://proxy.example:3128"
    ]
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("algorithm", ["AES-128", "AES-256"])
def test_a_pdf_encrypted_with_an_empty_user_password_is_read(algorithm: str) -> None:
    """A "no-copy" PDF (AES, empty user password, an owner password) gives its pages and
    title like any other, with no problem noted."""
    writer = PdfWriter()
    for _ in range(3):
        writer.add_blank_page(width=72, height=72)
    writer.add_metadata({"/Title": "Calculus"})
    writer.encrypt(user_password="", owner_password="owner", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    metadata = extract_pdf(out.getvalue()).metadata
    assert (metadata.pages, metadata.title, metadata.problems) == (3, "Calculus", ())
