"""`locust-finisher compare`: two CI artifacts compared offline, in every output; exit 0/1/2."""

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.waiting.junit_schema import read_junit

RUN = {"test": "shop", "users": 50, "spawnRate": 5, "runTimeSeconds": 120, "locustVersion": "2.32"}


def numbers(**changed: Any) -> dict[str, Any]:
    base = {"version": 1, "requests": 1000, "failures": 5, "avgMs": 40.0, "medianMs": 30.0}
    return (
        base | {"p95Ms": 100.0, "p99Ms": 180.0, "maxMs": 400.0, "rps": 50.0, "run": RUN} | changed
    )


def artifact(path: Path, summary: dict[str, Any], *, wait_document: bool = True) -> Path:
    """A summary.json as `wait --report-dir` writes it (the wait document), or a bare one."""
    document = {"version": 1, "verdict": "passed", "exitCode": 0, "summary": summary}
    path.write_text(json.dumps(document if wait_document else summary))
    return path


def compare(tmp_path: Path, current: dict[str, Any], *args: str, **baseline: Any) -> Any:
    base = artifact(tmp_path / "main" / "summary.json", numbers(**baseline))
    now = artifact(tmp_path / "pr.json", current, wait_document=False)
    return run_cli("compare", str(base), str(now), *args, cwd=tmp_path)


@pytest.fixture(autouse=True)
def _folder(tmp_path: Path) -> None:
    (tmp_path / "main").mkdir()


def test_without_checks_it_shows_the_deltas_and_exits_0(tmp_path: Path) -> None:
    result = compare(tmp_path, numbers(p95Ms=130.0))
    assert result.returncode == 0, result.stderr
    assert "p95" in result.stdout
    assert "100 ms" in result.stdout
    assert "130 ms" in result.stdout
    assert "+30 ms (+30.0%)" in result.stdout
    assert "not like with like" not in result.stdout


def test_a_failed_relative_check_exits_1_and_says_which(tmp_path: Path) -> None:
    result = compare(
        tmp_path, numbers(p95Ms=130.0), "--check-p95-regression", "10%",
        "--check-rps-regression", "20%",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "check p95-regression 130ms against 100ms (+30.0%) (limit 10% min 5ms) failed" in (
        result.stdout
    )
    assert "check rps-regression 50 against 50 (+0.0%) (limit 20% min 1) passed" in result.stdout


def test_noise_passes(tmp_path: Path) -> None:
    result = compare(tmp_path, numbers(avgMs=3.0), "--check-avg-regression", "10%", avgMs=2.0)
    assert result.returncode == 0, result.stdout


def test_json_carries_the_checks_and_every_number(tmp_path: Path) -> None:
    result = compare(
        tmp_path, numbers(failures=30), "-o", "json", "--check-fail-ratio-increase", "0.5pp"
    )
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["verdict"] == "failed"
    [check] = document["checks"]
    assert (check["name"], check["state"], check["delta"]) == (
        "fail-ratio-increase",
        "failed",
        "+2.50pp",
    )
    by_key = {n["key"]: n for n in document["comparison"]["numbers"]}
    assert (by_key["failures"]["baseline"], by_key["failures"]["current"]) == (5, 30)
    assert document["comparison"]["flagged"] is None


def test_junit_has_a_testcase_per_relative_check(tmp_path: Path) -> None:
    result = compare(
        tmp_path, numbers(p95Ms=130.0, p99Ms=181.0), "--junit", "out/junit.xml",
        "--check-p95-regression", "10%", "--check-p99-regression", "10%",
        "--check-avg-regression", "10%",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    report = read_junit((tmp_path / "out" / "junit.xml").read_text())
    assert list(report.cases) == [
        "check p95-regression",
        "check p99-regression",
        "check avg-regression",
    ]
    assert report.failing() == ["check p95-regression"]
    assert "against 100ms (+30.0%)" in report.message("check p95-regression")
    assert report.properties["verdict"] == "failed"


def test_markdown_has_a_delta_table_and_a_chart(tmp_path: Path) -> None:
    result = compare(
        tmp_path, numbers(p95Ms=130.0), "--markdown", "comment.md", "--check-p95-regression", "10%"
    )
    assert result.returncode == 1, result.stderr
    page = (tmp_path / "comment.md").read_text()
    assert page.startswith("## [FAIL] ")
    assert "| p95 | 100 ms | 130 ms | +30 ms (+30.0%) |" in page
    assert "```mermaid\nxychart-beta\n" in page
    assert "    bar [30, 100, 180, 40]\n    bar [30, 130, 180, 40]\n" in page


def test_a_baseline_of_another_load_is_flagged_everywhere_and_refused_strictly(
    tmp_path: Path,
) -> None:
    other = numbers(run={**RUN, "users": 100, "runTimeSeconds": 60})
    shown = compare(tmp_path, other, "--markdown", "comment.md")
    assert shown.returncode == 0, shown.stderr
    flag = "the baseline is not like with like: users 50 -> 100; run time 120 -> 60"
    assert flag in shown.stdout
    assert "**Not like with like:** users 50 -\\> 100" in (tmp_path / "comment.md").read_text()
    as_json = json.loads(compare(tmp_path, other, "-o", "json").stdout)
    assert as_json["comparison"]["flagged"] == flag
    refused = compare(tmp_path, other, "--strict-baseline")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"locust-finisher compare: {flag} (--strict-baseline)"
    ]


def test_unknown_metadata_is_flagged_not_refused(tmp_path: Path) -> None:
    result = compare(tmp_path, numbers(run={}), "--strict-baseline")
    assert result.returncode == 0, result.stderr
    assert "users unknown (current)" in result.stdout


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("not json", "is not JSON"),
        ("[" * 5000 + "]" * 5000, "nested more than 16 deep"),
        ('{"a": ' + '"x",' * 10 + "}", "is not JSON"),
        (json.dumps({"hello": 1}), "is not a summary.json"),
        (json.dumps({"verdict": "error", "summary": None, "error": "timed out"}), "timed out"),
        ("x" * (1024 * 1024 + 1), "is over 1 MiB"),
    ],
    ids=["not-json", "deep", "broken", "not-a-run", "no-verdict", "huge"],
)
def test_a_bad_file_is_one_line_and_exit_2(tmp_path: Path, content: str, said: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    good = artifact(tmp_path / "good.json", numbers())
    result = run_cli("compare", str(bad), str(good))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"locust-finisher compare: {bad} ")
    assert said in line


def test_a_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    good = artifact(tmp_path / "good.json", numbers())
    result = run_cli("compare", str(good), str(tmp_path / "gone.json"))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"locust-finisher compare: cannot read {tmp_path / 'gone.json'}: No such file or directory"
    )


def test_a_bad_limit_is_a_usage_error(tmp_path: Path) -> None:
    good = artifact(tmp_path / "good.json", numbers())
    result = run_cli("compare", str(good), str(good), "--check-p95-regression", "10")
    assert result.returncode == 2
    assert "is not a percentage like 10%" in result.stderr
