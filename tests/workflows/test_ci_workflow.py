"""ci.yml: `make test` as root, with caches that are saved under the key they are restored by."""

from tests.workflows.workflow_files import load, step

CI = load("ci.yml")
JOB = CI["jobs"]["test"]


def test_runs_make_test_as_root_on_push_and_pull_requests() -> None:
    assert set(CI["on"]) == {"push", "pull_request"}
    assert JOB["timeout-minutes"] == 90
    assert step(JOB, "make test")["run"].startswith("sudo -E ")


def test_every_cache_is_saved_where_it_is_restored() -> None:
    restores = {s["id"]: s["with"] for s in JOB["steps"] if "cache/restore@" in s.get("uses", "")}
    saves = [s for s in JOB["steps"] if "cache/save@" in s.get("uses", "")]
    assert len(saves) == len(restores) == 2
    for save in saves:
        restored = next(r for id_, r in restores.items() if f"steps.{id_}." in save["if"])
        assert (save["with"]["path"], save["with"]["key"]) == (restored["path"], restored["key"])


def test_the_caches_cover_the_slow_parts_keyed_on_their_locks() -> None:
    restored = [s["with"] for s in JOB["steps"] if "cache/restore@" in s.get("uses", "")]
    paths = {line for r in restored for line in r["path"].split("\n") if line}
    assert paths == {"~/.cache/uv", "~/go/pkg/mod", "~/.cache/go-build", "~/.cache/locust-finisher"}
    keys = " ".join(r["key"] for r in restored)
    assert "hashFiles('uv.lock')" in keys
    assert "hashFiles('devcluster/gomod/**/go.sum')" in keys
