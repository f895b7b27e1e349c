"""`ocwwatch list add` and `list remove` (issue 16): the TOML list edited from the command
line, every comment and every other entry kept byte for byte; bad input refused, the file as
it was."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import REPO, run

from ocwwatch.config import load_config

LINEAR_ALGEBRA = "https://ocw.mit.edu/courses/18-06-linear-algebra-spring-2010/"


def test_list_add_appends_an_entry_and_keeps_every_byte_before_it(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """The new entry comes last, its kind inferred from the URL and its id from its name; the
    file before it is unchanged (comments included) and the list loads with it."""
    resources = config.parent / "resources.toml"
    before = resources.read_text(encoding="utf-8")
    code, out, _ = run(
        capsys, "list", "add", LINEAR_ALGEBRA, "--name", "Linear Algebra", "--config", config
    )
    assert code == 0
    assert out == f"{resources}: added linear-algebra (ocw-course) {LINEAR_ALGEBRA}\n"
    after = resources.read_text(encoding="utf-8")
    assert after.startswith(before.rstrip("\n") + "\n\n[[resources]]\n")
    added = load_config(config, cwd=config.parent).resources[-1]
    assert (added.id, added.url, added.kind, added.name) == (
        "linear-algebra",
        LINEAR_ALGEBRA,
        "ocw-course",
        "Linear Algebra",
    )
    code, out, _ = run(capsys, "list", "add", "https://example.org/notes.pdf", "--config", config)
    assert (code, out.split(": ", 1)[1]) == (
        0,
        "added notes.pdf (pdf) https://example.org/notes.pdf\n",
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["https://www.gutenberg.org/ebooks/33283"], "is already listed, as 'calculus-made-easy'"),
        (["https://example.org/", "--id", "18.01sc"], "id '18.01sc' is taken"),
        (["ftp://example.org/"], "is not an absolute http(s) URL"),
        (["https://user:pw@example.org/"], "holds credentials"),
    ],
)
def test_list_add_refuses_bad_input_and_leaves_the_file(
    capsys: pytest.CaptureFixture[str], config: Path, argv: list[str], said: str
) -> None:
    """A URL already listed, a taken id, a URL that is not http(s) or holds a password: exit 2
    with one line, the list as it was."""
    resources = config.parent / "resources.toml"
    before = resources.read_bytes()
    code, _, err = run(capsys, "list", "add", *argv, "--config", config)
    assert code == 2
    assert said in err
    assert resources.read_bytes() == before


def test_list_remove_takes_the_entry_and_its_expectations_out(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    """`list remove highlights` drops its table and its expected/promises tables; every other
    entry and the comments stay; an unknown id is exit 2."""
    resources = config.parent / "resources.toml"
    before = resources.read_text(encoding="utf-8")
    code, out, _ = run(capsys, "list", "remove", "highlights", "--config", config)
    assert code == 0
    assert "removed highlights" in out
    after = resources.read_text(encoding="utf-8")
    ids = [resource.id for resource in load_config(config, cwd=config.parent).resources]
    assert "highlights" not in ids
    assert len(ids) == 6
    assert "RES.18-005" not in after
    assert "Video lectures" not in after
    comments = [line for line in before.splitlines() if line.startswith("#")]
    assert [line for line in after.splitlines() if line.startswith("#")] == comments
    code, _, err = run(capsys, "list", "remove", "nosuch", "--config", config)
    assert code == 2
    assert "no entry with id 'nosuch'" in err


def test_list_edits_refuse_the_packaged_list_and_a_markdown_list(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, config: Path
) -> None:
    """Without a config, the list shipped inside the package is never edited (run `ocwwatch
    init`); a Markdown list is edited in the document itself."""
    elsewhere = tmp_path / "elsewhere"  # no config/ here (the fixture's is in tmp_path)
    elsewhere.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "ocwwatch", "list", "add", LINEAR_ALGEBRA],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "run `ocwwatch init`" in done.stderr
    assert list(elsewhere.iterdir()) == []
    document = tmp_path / "calculus.md"
    document.write_text("- [Calculus](https://www.gutenberg.org/ebooks/33283)\n")
    code, _, err = run(capsys, "list", "remove", "calculus", "--config", config, "--list", document)
    assert code == 2
    assert "a Markdown list: add or remove the link in the document" in err


def test_list_add_offers_exactly_the_kinds_a_list_accepts() -> None:
    """`--kind` choices (kept in cli.py so that --help stays fast) are the model's kinds."""
    from ocwwatch.cli import KINDS
    from ocwwatch.models import ResourceKind

    assert set(KINDS) == {kind.value for kind in ResourceKind}
