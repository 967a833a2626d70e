"""Where a load test stands, read from its master pod and Job: for ``locust-finisher wait``.

It prefers what the controller recorded (annotations), and falls back on the pod status
alone (the master's exit code, the finisher's termination message) so that CI gets its
verdict even where the controller is not installed (or has not reported yet); there it
judges the pod's checks on the finisher's summary as the controller would (app/core/checks.py).
It also names what keeps a test from starting (an image that cannot be pulled, a missing
Secret, no node), so that CI hears why instead of waiting out its timeout.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.core import names, podview
from app.core.checks import describe_check, held_to_strict, judge, unmade_checks, verdict
from app.core.injection_status import read_status
from app.core.priming import read_unconfirmable
from app.core.reasons import never_started, parse_reason, reason_of
from app.core.run_metadata import read_pod_run, run_metadata, which_test
from app.core.settings import DEFAULT_SETTINGS
from app.core.summary import RunMetadata, Summary, decode_summary, headline
from app.core.verdict_record import is_record_of


@dataclass(frozen=True)
class LoadTestStatus:
    """One look at a test."""

    finished: bool
    passed: bool | None
    exit_code: int | None
    summary: Summary | None
    line: str  # a progress line for humans
    source: str  # where the verdict came from
    reason: str | None = None  # a failed verdict's reason code (app/core/reasons.py)


def _container_states(pod: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    status = podview.mapping(pod, "status")
    return {
        str(s.get("name")): podview.mapping(s, "state")
        for key in ("containerStatuses", "initContainerStatuses")
        for s in podview.objects(status, key)
    }


def _describe(name: str, state: Mapping[str, Any]) -> str:
    if "terminated" in state:
        return f"{name} exited {podview.mapping(state, 'terminated').get('exitCode')}"
    if "running" in state:
        return f"{name} running"
    reason = podview.text(podview.mapping(state, "waiting"), "reason") or "waiting"
    return f"{name} {reason}"


def _master_name(pod: Mapping[str, Any], states: Mapping[str, Any]) -> str | None:
    """The Locust master container's name, when the pod says which it is."""
    injection = read_status(podview.annotations(pod))
    if injection and injection.master_container in states:
        return injection.master_container
    # Not mutated (or not a master we know): the first container that carries --master.
    for container in podview.containers(pod):
        if "--master" in podview.command_tokens(container):
            return podview.text(container, "name")
    return None


def status_of_test(
    pod: Mapping[str, Any], job: Mapping[str, Any] | None = None, *, strict_checks: bool = False
) -> LoadTestStatus:
    """The status of the test whose master pod is ``pod`` (and whose Job is ``job``).

    The controller's verdict, on the pod or else on the Job, counts only when it is this pod's
    own (app/core/verdict_record.py): a Job running a retry still carries its first pod's, and
    a re-created Job or pod may carry a copy of an earlier run's. ``strict_checks`` (``wait
    --strict-checks``) fails a check that could not be made even where the pod's own settings
    do not: on the recorded verdict too, which it can only make stricter.
    """
    phase = podview.text(podview.mapping(pod, "status"), "phase") or "Pending"
    states = _container_states(pod)
    master_name = _master_name(pod, states)
    master_state = states.get(master_name) if master_name else None
    line = f"pod {phase}; " + ", ".join(_describe(n, s) for n, s in states.items())
    terminated = podview.mapping(master_state or {}, "terminated")

    uid = podview.text(podview.mapping(pod, "metadata"), "uid")
    finished_at = podview.text(terminated, "finishedAt")
    for annotations in (podview.annotations(pod), podview.annotations(job) if job else {}):
        recorded = podview.text(annotations, names.RESULT_ANNOTATION)
        summary_text = podview.text(annotations, names.SUMMARY_ANNOTATION)
        if (
            recorded in ("passed", "failed")
            and summary_text
            and is_record_of(annotations, uid, finished_at)
        ):
            code_text = podview.text(annotations, names.EXIT_CODE_ANNOTATION)
            code = int(code_text) if code_text and code_text.lstrip("-").isdigit() else None
            summary = decode_summary(summary_text)
            passed = recorded == "passed"
            reason = None if passed else parse_reason(annotations.get(names.REASON_ANNOTATION))
            if strict_checks and summary is not None and "checks" in summary:
                summary = {**summary, "checks": held_to_strict(summary["checks"])}
                passed = passed and verdict(0, summary["checks"]) == "passed"
            if not passed and reason is None:  # made stricter here, or recorded before reasons
                ended = terminated.get("exitCode")
                reason = reason_of(
                    code if code is not None else ended if isinstance(ended, int) else 0,
                    (summary or {}).get("checks", []),
                    has_numbers="requests" in (summary or {}),
                    master_started=not never_started(terminated),
                )
                if summary is not None:
                    summary = {**summary, "reason": reason.code} if reason else summary
            return LoadTestStatus(
                True,
                passed,
                code,
                summary,
                line,
                "controller annotations",
                reason.code if reason else None,
            )

    exit_code = terminated.get("exitCode")
    if not isinstance(exit_code, int):
        return LoadTestStatus(False, None, None, None, line, "")
    finisher = podview.mapping(states.get(names.FINISHER_CONTAINER, {}), "terminated")
    has_finisher = names.FINISHER_CONTAINER in states
    if has_finisher and not finisher and phase not in ("Succeeded", "Failed"):
        # The verdict is known; the finisher is still waiting for the final scrape.
        return LoadTestStatus(False, exit_code == 0, exit_code, None, line + " (finishing)", "")
    summary = decode_summary(podview.text(finisher, "message"))
    # The checks the pod carries, judged as the controller will: wait may see the end first.
    injection = read_status(podview.annotations(pod))
    settings = injection.settings if injection else DEFAULT_SETTINGS
    if strict_checks:
        settings = replace(settings, strict_checks=True)
    why = "the finisher left no summary" if has_finisher else "no finisher in the pod"
    result, summary = judge(exit_code, settings, summary, why)
    # The reason and the run as the controller will give them: the same functions.
    reason = reason_of(
        exit_code,
        (summary or {}).get("checks", []),
        has_numbers="requests" in (summary or {}),
        master_started=not never_started(terminated),
    )
    if summary is not None:
        summary = {**summary, "run": _run(pod, job, master_name or "", summary)}
        if reason is not None:
            summary["reason"] = reason.code
    said = reason.code if reason else None
    return LoadTestStatus(True, result == "passed", exit_code, summary, line, "pod status", said)


def _run(
    pod: Mapping[str, Any], job: Mapping[str, Any] | None, master: str, summary: Summary
) -> RunMetadata:
    """The summary's ``run``, as the controller's report will have it."""
    metadata = podview.mapping(pod, "metadata")
    pod_name = podview.text(metadata, "name") or ""
    owner = podview.controller_reference(pod)
    job_name = podview.text(owner, "name") if owner.get("kind") == "Job" else None
    test = which_test(job, job_name, pod_name)
    namespace = podview.text(metadata, "namespace") or ""
    return run_metadata(read_pod_run(pod, master), test=test, namespace=namespace, summary=summary)


# Waiting reasons the kubelet keeps retrying but that rarely mend themselves: a registry
# hiccup clears within a grace period, a wrong image name or missing pull secret does not.
_PULL_REASONS = frozenset({"ImagePullBackOff", "ErrImagePull"})
# Waiting reasons that need someone to change the pod or the objects it names.
_BROKEN_REASONS = frozenset(
    {"CreateContainerConfigError", "InvalidImageName", "ErrImageNeverPull", "CreateContainerError"}
)


@dataclass(frozen=True)
class Blocker:
    """Something that keeps the test from starting, as the pod status says."""

    kind: str  # "image" or "unschedulable" (may mend within a grace period), or "broken"
    reason: str  # for humans, one line


def blocker_of(pod: Mapping[str, Any]) -> Blocker | None:
    """What keeps the master from running, if anything: only states that block the test.

    A sidecar (the exporter, the finisher) that cannot start does not stop Locust, so only
    init containers and the master count; every container does when the master is unknown.
    """
    status = podview.mapping(pod, "status")
    for condition in podview.objects(status, "conditions"):
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
            message = podview.text(condition, "message") or "no node fits"
            return Blocker("unschedulable", f"unschedulable: {message}")
    regular = {str(s.get("name")): s for s in podview.objects(status, "containerStatuses")}
    master = _master_name(pod, {name: s.get("state") for name, s in regular.items()})
    if master in regular and "terminated" in podview.mapping(regular[master], "state"):
        return None
    watched = podview.objects(status, "initContainerStatuses")
    watched += [regular[master]] if master in regular else list(regular.values())
    for container in watched:
        waiting = podview.mapping(podview.mapping(container, "state"), "waiting")
        reason = podview.text(waiting, "reason") or ""
        kind = "image" if reason in _PULL_REASONS else "broken" if reason in _BROKEN_REASONS else ""
        if kind:
            said = podview.text(waiting, "message")
            detail = f"{reason}: {said}" if said else reason
            return Blocker(kind, f"container {container.get('name')}: {detail}")
    return None


def job_failure(job: Mapping[str, Any] | None) -> str | None:
    """The Job's own failure (a deadline, its backoff limit), when its condition says so."""
    for condition in podview.objects(podview.mapping(job or {}, "status"), "conditions"):
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            reason = podview.text(condition, "reason") or "Failed"
            message = podview.text(condition, "message")
            return f"{reason}: {message}" if message else reason
    return None


def progress_line(status: LoadTestStatus, stats: Mapping[str, Any] | None) -> str:
    """The status line, with live numbers when Locust's stats are at hand."""
    if not stats:
        return status.line
    rows = [r for r in stats.get("stats", []) or [] if isinstance(r, Mapping)]
    total = next((r for r in rows if r.get("name") == "Aggregated"), {})
    return (
        f"{status.line}; Locust {stats.get('state', '?')}: {stats.get('user_count', 0)} users, "
        f"{float(stats.get('total_rps') or 0):.1f} req/s, "
        f"{total.get('num_requests', 0)} requests, {total.get('num_failures', 0)} failures"
    )


def summary_table(summary: Summary | None) -> list[str]:
    """The summary as aligned lines."""
    if summary is None:
        return ["  (no summary: the finisher left none)"]
    lines = [f"  {headline(summary)}"] if "requests" in summary else []
    rows = [
        ("requests", str(summary.get("requests", "-"))),
        (
            "failures",
            f"{summary.get('failures', '-')} ({100 * summary.get('failRatio', 0.0):.2f}%)",
        ),
        ("median / p95", f"{summary.get('medianMs', '-')} / {summary.get('p95Ms', '-')} ms"),
        ("average / max", f"{summary.get('avgMs', '-')} / {summary.get('maxMs', '-')} ms"),
        ("throughput", f"{summary.get('rps', '-')} req/s"),
    ]
    final = summary.get("finalScrape")
    if final is not None:
        confirmed = final.get("confirmedAt", "yes") if final["confirmed"] else "not confirmed"
        reason = read_unconfirmable(final.get("unconfirmable"))  # a known word, or nothing
        if not final["confirmed"] and reason is not None:
            confirmed += f" ({reason})"
        rows.append(("final scrape", str(confirmed)))
    if "exporter" in summary:
        rows.append(("exporter", str(summary["exporter"])))
    lines += [f"  {key:<14}{value}" for key, value in rows]
    endpoints = summary.get("endpoints", [])
    if endpoints:
        lines.append(
            f"  {'endpoint':<40}{'requests':>10}{'failures':>10}{'avg ms':>9}{'p95 ms':>9}"
        )
        for row in endpoints:
            label = f"{row['method']} {row['name']}"[:39]
            lines.append(
                f"  {label:<40}{row['requests']:>10}{row['failures']:>10}"
                f"{row['avgMs']:>9g}{row['p95Ms']:>9g}"
            )
    for note in summary.get("notes", []):
        lines.append(f"  note: {note}")
    checks = summary.get("checks", [])
    lines += [f"  check {describe_check(check)}" for check in checks]
    unmade = unmade_checks(checks)
    if unmade and all(check["passed"] for check in checks):
        lines.append(
            f"  warning: not made, so not counted: {', '.join(unmade)}; "
            "--strict-checks would fail this test"
        )
    return lines
