"""A test's kept runs: what is kept of each, how many, and what ``previous`` picks."""

import json

from app.core.history import (
    DEFAULT_KEEP,
    HISTORY_BUDGET,
    HistoryEntry,
    append,
    configmap_name,
    count_run,
    counts,
    decode_counts,
    decode_history,
    encode_counts,
    encode_history,
    entry_of,
    expired,
    previous,
    summary_of,
)
from app.core.summary import CheckState, RunMetadata, Summary
from app.core.timestamps import parse_time


def summary(p95: float = 120.0, users: int = 10, ended: str = "2026-12-07T10:00:00Z") -> Summary:
    return {
        "version": 1,
        "requests": 1000,
        "failures": 3,
        "failRatio": 0.003,
        "avgMs": 80.5,
        "p95Ms": p95,
        "rps": 33.3,
        "endpoints": [
            {
                "method": "GET",
                "name": "/",
                "requests": 1000,
                "failures": 3,
                "avgMs": 80.5,
                "p95Ms": p95,
            }
        ],
        "checks": [
            {
                "name": "p95",
                "limit": "500ms",
                "value": f"{p95}ms",
                "passed": True,
                "reads": "...",
                "state": CheckState.PASSED,
            }
        ],
        "run": {"test": "checkout", "namespace": "load", "users": users, "endedAt": ended},
    }


def differ_in_users(one: RunMetadata, other: RunMetadata) -> list[str]:
    return ["users"] if one.get("users") != other.get("users") else []


def test_a_run_is_kept_by_its_totals_verdict_and_metadata_never_its_lists() -> None:
    entry = entry_of("uid-1", "passed", summary())
    assert entry["numbers"] == {
        "requests": 1000,
        "failures": 3,
        "failRatio": 0.003,
        "avgMs": 80.5,
        "p95Ms": 120.0,
        "rps": 33.3,
    }
    assert entry["run"]["test"] == "checkout"
    assert entry["finishedAt"] == "2026-12-07T10:00:00Z"
    assert entry["checks"] == [{"name": "p95", "state": "passed"}]
    assert "endpoints" not in json.dumps(entry)
    assert summary_of(entry)["p95Ms"] == 120.0


def test_recording_a_run_twice_changes_nothing_and_the_oldest_go_past_the_limit() -> None:
    entries: list[HistoryEntry] = []
    for number in range(DEFAULT_KEEP + 5):
        appended = append(entries, entry_of(f"uid-{number}", "passed", summary()))
        assert appended is not None
        entries = appended
    assert len(entries) == DEFAULT_KEEP
    assert entries[0]["uid"] == "uid-5"
    assert append(entries, entry_of("uid-24", "failed", summary())) is None


def test_a_history_never_outgrows_its_budget() -> None:
    big = summary()
    big["run"]["image"] = "x" * 250
    entries: list[HistoryEntry] = []
    for number in range(100):
        entries = append(entries, entry_of(f"uid-{number}", "passed", big), keep=100) or entries
    assert len(encode_history(entries).encode()) <= HISTORY_BUDGET


def test_previous_is_the_newest_passed_comparable_run_never_the_current_one() -> None:
    entries = [
        entry_of("a", "passed", summary(p95=100)),
        entry_of("b", "passed", summary(p95=110, users=50)),
        entry_of("c", "failed", summary(p95=900)),
        entry_of("d", "passed", summary(p95=120)),
    ]
    current: RunMetadata = {"test": "checkout", "users": 10}
    found = previous(entries, current, differ_in_users, exclude_uid="d")
    assert found is not None
    assert found["uid"] == "a"
    assert previous(entries, current, differ_in_users)["uid"] == "d"  # type: ignore[index]
    assert previous(entries, {"users": 7}, differ_in_users) is None


def test_a_tampered_history_is_read_as_far_as_it_is_runs_and_never_raises() -> None:
    good = entry_of("a", "passed", summary())
    text = json.dumps(
        [
            good,
            {"uid": "b", "result": "maybe"},
            "x",
            {"uid": 5},
            {**good, "uid": "c", "numbers": {"p95Ms": "fast", "rps": True}},
        ]
    )
    read = decode_history(text)
    assert [entry["uid"] for entry in read] == ["a", "c"]
    assert read[1]["numbers"] == {}
    assert decode_history("[" * 10_000) == []
    assert decode_history("{not json") == []
    assert decode_history("x" * (HISTORY_BUDGET * 2 + 1)) == []
    assert decode_history(json.dumps({"runs": []})) == []


def test_a_test_not_run_for_the_set_time_is_expired() -> None:
    entries = [entry_of("a", "passed", summary(ended="2026-11-01T00:00:00Z"))]
    now = parse_time("2026-12-07T00:00:00Z")
    assert now is not None
    assert expired(entries, now, 30 * 86400)
    assert not expired(entries, now, 40 * 86400)
    assert counts(entries) == {"passed": 1, "failed": 0}


def test_each_test_has_its_own_configmap_name_whatever_it_is_called() -> None:
    name = configmap_name("checkout")
    assert name.startswith("locust-finisher-history-")
    assert len(name) == 34
    assert configmap_name("checkout") == name != configmap_name("Checkout")
    assert len(configmap_name("x" * 500)) == 34


def test_every_run_is_counted_by_result_beyond_the_kept_ones() -> None:
    counted = decode_counts(None)
    for result in ("passed", "passed", "failed"):
        counted = count_run(counted, result)
    assert decode_counts(encode_counts(counted)) == {"passed": 2, "failed": 1}
    assert decode_counts('{"passed": -4, "failed": true}') == {"passed": 0, "failed": 0}
    assert decode_counts("[[[[") == {"passed": 0, "failed": 0}
