"""Tests of recorded scenarios: loading and its errors, matching, 304s, strict and lenient replay.

Scenarios come from tests/fixtures/scenarios/unit-* or are written to tmp_path by the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from ocwwatch.errors import ScenarioError
from ocwwatch.fetch import (
    Fetcher,
    FetchPolicy,
    Recording,
    Scenario,
    load_scenario,
    recordings_from_result,
    replay_transport,
    save_scenario,
)
from ocwwatch.models import FailureKind

SCENARIOS = Path(__file__).parent / "fixtures" / "scenarios"
MOVED = SCENARIOS / "unit-moved-course"
OLD_URL = "http://ocw.mit.edu/courses/mathematics/18-01sc-single-variable-calculus-fall-2010/"
NEW_URL = "https://ocw.mit.edu/courses/18-01sc-single-variable-calculus-fall-2010/"


def write_scenario(folder: Path, responses: list[dict[str, Any]], **extra: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    document = {"name": "tmp", "responses": responses, **extra}
    (folder / "scenario.json").write_text(json.dumps(document), encoding="utf-8")
    return folder


def get(transport: httpx.MockTransport, url: str, **headers: str) -> httpx.Response:
    with httpx.Client(transport=transport) as client:
        return client.get(url, headers=headers)


async def instant_sleep(seconds: float) -> None:
    return None


def fetcher_for(transport: httpx.MockTransport) -> Fetcher:
    policy = FetchPolicy(per_host_interval_seconds=0)
    return Fetcher(policy, transport=transport, sleep=instant_sleep)


# --- loading -------------------------------------------------------------------------------


def test_load_scenario_reads_bodies_and_lowercases_headers() -> None:
    """Loading resolves body files next to scenario.json and lower-cases header names."""
    scenario = load_scenario(MOVED)
    first, _, home = scenario.recordings
    assert scenario.name == "unit-moved-course"
    assert first.headers == {
        "location": "https://ocw.mit.edu/courses/mathematics/18-01sc-single-variable-calculus-fall-2010/"
    }
    assert home.body.startswith(b"<!doctype html>")
    assert (first.synthetic, first.method) == (True, "GET")


def test_load_scenario_accepts_the_json_file_itself() -> None:
    """load_scenario takes the folder or its scenario.json alike."""
    assert load_scenario(MOVED / "scenario.json") == load_scenario(MOVED)


def test_missing_scenario_names_the_file(tmp_path: Path) -> None:
    """A folder without scenario.json is a ScenarioError naming the file."""
    with pytest.raises(ScenarioError, match=r"nowhere/scenario\.json: cannot read"):
        load_scenario(tmp_path / "nowhere" / "scenario.json")


def test_bad_json_names_the_file(tmp_path: Path) -> None:
    """Malformed JSON is a ScenarioError naming the file."""
    (tmp_path / "scenario.json").write_text("{", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"scenario\.json: not valid JSON"):
        load_scenario(tmp_path)


def test_invalid_entry_names_index_and_field(tmp_path: Path) -> None:
    """A bad field names the file, the entry index and the field."""
    write_scenario(
        tmp_path,
        [
            {"url": "https://a.example/", "status": 200},
            {"url": "https://a.example/x", "status": 999},
        ],
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'scenario.json'}: responses[1]: status: ")


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    """Keys outside the format are errors (extra="forbid"), named with their entry."""
    write_scenario(tmp_path, [{"url": "https://a.example/", "status": 200, "stauts": 1}])
    with pytest.raises(ScenarioError, match=r"responses\[0\]: stauts: unknown key"):
        load_scenario(tmp_path)


def test_missing_body_file_names_the_entry(tmp_path: Path) -> None:
    """A body path that does not exist names the entry and the file it looked for."""
    write_scenario(tmp_path, [{"url": "https://a.example/", "status": 200, "body": "gone.html"}])
    with pytest.raises(ScenarioError, match=r"responses\[0\]\.body: cannot read .*gone\.html"):
        load_scenario(tmp_path)


def test_body_path_may_climb_out_of_the_folder(tmp_path: Path) -> None:
    """Body paths are relative to the scenario folder and may use ../ to share files."""
    (tmp_path / "shared.html").write_bytes(b"<p>shared</p>")
    folder = write_scenario(
        tmp_path / "one", [{"url": "https://a.example/", "status": 200, "body": "../shared.html"}]
    )
    assert load_scenario(folder).recordings[0].body == b"<p>shared</p>"


def test_same_url_twice_for_one_method_is_rejected(tmp_path: Path) -> None:
    """A URL is recorded once per method; a second GET (even spelled differently) is an error."""
    entries = [
        {"url": "https://a.example/x", "status": 200},
        {"method": "HEAD", "url": "https://a.example/x", "status": 200},
        {"url": "HTTPS://A.EXAMPLE:443/x", "status": 404},
    ]
    write_scenario(tmp_path, entries)
    with pytest.raises(
        ScenarioError, match=r"responses\[2\]: .*already recorded at responses\[0\]"
    ):
        load_scenario(tmp_path)


# --- answering -----------------------------------------------------------------------------


def test_url_matching_is_normalised() -> None:
    """Scheme and host case and a default port do not stop a recording from matching."""
    transport = replay_transport(load_scenario(MOVED), strict=True)
    response = get(
        transport, "HTTPS://OCW.MIT.EDU:443/courses/18-01sc-single-variable-calculus-fall-2010/"
    )
    assert response.status_code == 200


def test_get_recording_answers_head_without_body() -> None:
    """A GET recording answers HEAD with its headers and no body."""
    transport = replay_transport(load_scenario(MOVED), strict=True)
    with httpx.Client(transport=transport) as client:
        response = client.head(NEW_URL)
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0


def test_replay_answers_304_for_a_matching_etag() -> None:
    """If-None-Match with the recorded ETag (weak or not) gets a 304 with no body."""
    transport = replay_transport(load_scenario(MOVED), strict=True)
    response = get(transport, NEW_URL, **{"if-none-match": 'W/"unit-18-01sc-v1"'})
    assert (response.status_code, response.content) == (304, b"")
    assert response.headers["etag"] == '"unit-18-01sc-v1"'


def test_replay_answers_304_when_not_modified_since() -> None:
    """If-Modified-Since at or after the recorded Last-Modified gets a 304; before gets 200."""
    transport = replay_transport(load_scenario(MOVED), strict=True)
    later = get(transport, NEW_URL, **{"if-modified-since": "Wed, 02 Oct 2024 00:00:00 GMT"})
    earlier = get(transport, NEW_URL, **{"if-modified-since": "Mon, 30 Sep 2024 00:00:00 GMT"})
    assert (later.status_code, earlier.status_code) == (304, 200)


@pytest.mark.anyio
async def test_strict_replay_fails_on_an_unrecorded_url() -> None:
    """Strict replay makes a request without a recording fail the test (AssertionError)."""
    transport = replay_transport(load_scenario(MOVED), strict=True)
    async with fetcher_for(transport) as fetcher:
        with pytest.raises(AssertionError, match=r"no recording for GET https://ocw\.mit\.edu/x"):
            await fetcher.fetch("https://ocw.mit.edu/x")


@pytest.mark.anyio
async def test_lenient_replay_reports_no_recording() -> None:
    """Non-strict replay turns an unrecorded URL into NO_RECORDING, tried once."""
    transport = replay_transport(load_scenario(MOVED), strict=False)
    async with fetcher_for(transport) as fetcher:
        result = await fetcher.fetch("https://ocw.mit.edu/x")
    assert (result.failure, result.status, result.attempts) == (FailureKind.NO_RECORDING, None, 1)


# --- writing -------------------------------------------------------------------------------


def test_save_scenario_round_trips(tmp_path: Path) -> None:
    """A saved scenario loads back with the same recordings."""
    recordings = (
        Recording(url="https://a.example/", status=301, headers={"location": "/b"}),
        Recording(
            url="https://a.example/b",
            status=200,
            headers={"content-type": "application/pdf"},
            body=b"%PDF-1.4",
            source="test",
        ),
    )
    save_scenario(tmp_path, name="saved", recordings=recordings, description="round trip")
    loaded = load_scenario(tmp_path)
    assert loaded.recordings == recordings
    assert (tmp_path / "bodies" / "001.pdf").read_bytes() == b"%PDF-1.4"


@pytest.mark.anyio
async def test_recordings_from_result_replay_the_same_chain(tmp_path: Path) -> None:
    """Recordings rebuilt from a FetchResult replay to the same redirects and body."""
    async with fetcher_for(replay_transport(load_scenario(MOVED), strict=True)) as fetcher:
        original = await fetcher.fetch(OLD_URL)
    rebuilt = Scenario(name="rebuilt", recordings=tuple(recordings_from_result(original)))
    async with fetcher_for(replay_transport(rebuilt, strict=True)) as fetcher:
        again = await fetcher.fetch(OLD_URL)
    assert (again.redirects, again.final_url, again.body) == (
        original.redirects,
        original.final_url,
        original.body,
    )


def test_a_fetch_without_redirects_records_its_one_response() -> None:
    """recordings_from_result also holds a fetch that was answered at once (no hop)."""
    from datetime import UTC, datetime

    from ocwwatch.fetch import recordings_from_result
    from ocwwatch.models import FetchResult

    result = FetchResult(
        url="https://ocw.example/",
        final_url="https://ocw.example/",
        status=200,
        headers={"content-type": "text/html", "content-length": "2"},
        body=b"hi",
        fetched_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    [recording] = recordings_from_result(result)
    assert (recording.url, recording.status, recording.body) == ("https://ocw.example/", 200, b"hi")
    assert recording.headers == {"content-type": "text/html"}
