"""Did it get worse? One run's numbers against a baseline run's: deltas and relative checks.

``compare`` (two CI artifacts, offline), ``wait --baseline`` and the controller (against the
test's previous run) all ask it here, so each says the same. A relative check (``check-p95-
regression: 10%`` and the others, app/core/settings.py) fails only when the number got worse
by more than its share *and* by at least its least change: a 40% rise from 2 ms to 2.8 ms is
noise and never fails a build. It is judged on two numbers: without a baseline, or without its
number on either side, it is not made (app/core/summary.py CheckState), never passed or
failed on numbers that are not there. With no baseline at all it is not made even under strict
checks: a test's first run cannot have regressed.

A baseline from another kind of run (other users, spawn rate, run time, Locust version or
test) is flagged wherever the comparison is shown; metadata missing on either side is
"unknown", flagged too but never a difference (``--strict-baseline`` refuses differences only).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict, cast

from app.core.checks import fail_ratio, field_of, plain_number, show_ms
from app.core.setting_codecs import Regression
from app.core.settings import (
    CHECK_AVG_REGRESSION,
    CHECK_FAIL_RATIO_INCREASE,
    CHECK_P95_REGRESSION,
    CHECK_P99_REGRESSION,
    CHECK_RPS_REGRESSION,
    FinishSettings,
    Setting,
)
from app.core.summary import (
    BaselineEntry,
    BaselineNumbers,
    CheckResult,
    CheckState,
    RunMetadata,
    Summary,
)


def _fail_ratio_of(summary: Summary) -> float | None:
    """The failure ratio as the fail-ratio check reads it, else as the summary rounds it."""
    ratio = fail_ratio(summary)
    return ratio if ratio is not None else field_of("failRatio")(summary)


@dataclass(frozen=True)
class _Measure:
    """One number of a summary that a comparison shows."""

    key: str  # the summary's field
    label: str
    unit: str  # "ms", "req/s", "%" (a ratio shown in percent, its change in points) or ""
    value_of: Callable[[Summary], float | None]


MEASURES: tuple[_Measure, ...] = (
    _Measure("requests", "requests", "", field_of("requests")),
    _Measure("failures", "failures", "", field_of("failures")),
    _Measure("failRatio", "fail ratio", "%", _fail_ratio_of),
    _Measure("medianMs", "p50", "ms", field_of("medianMs")),
    _Measure("p95Ms", "p95", "ms", field_of("p95Ms")),
    _Measure("p99Ms", "p99", "ms", field_of("p99Ms")),
    _Measure("avgMs", "average", "ms", field_of("avgMs")),
    _Measure("maxMs", "max", "ms", field_of("maxMs")),
    _Measure("rps", "throughput", "req/s", field_of("rps")),
)
_MEASURE = {measure.key: measure for measure in MEASURES}


class NumberDelta(TypedDict):
    """One number of both runs; None where a run has none."""

    key: str  # the summary's field: p95Ms
    label: str  # for humans: p95
    unit: str
    baseline: float | None
    current: float | None
    delta: float | None  # current - baseline, in the number's unit (a ratio for failRatio)
    relative: float | None  # delta / baseline; None when the baseline is 0 or absent


class MetadataDifference(TypedDict):
    """One run metadata field that differs, or that a run does not say (None: unknown)."""

    field: str  # RunMetadata's key: users
    label: str  # for humans: users
    baseline: str | None
    current: str | None


class Comparison(TypedDict):
    """Two runs side by side: every number, and what makes them not like with like."""

    numbers: list[NumberDelta]
    differences: list[MetadataDifference]  # known differences first, then the unknown


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def delta_of(measure_key: str, baseline: Summary, current: Summary) -> NumberDelta:
    """One number of both runs and how it changed."""
    measure = _MEASURE[measure_key]
    before, after = measure.value_of(baseline), measure.value_of(current)
    delta = None if before is None or after is None else after - before
    relative = None if delta is None or not before else delta / before
    return NumberDelta(
        key=measure.key,
        label=measure.label,
        unit=measure.unit,
        baseline=before,
        current=after,
        delta=_round(delta),
        relative=_round(relative),
    )


# The metadata that make two runs unlike: the load and the tool that made it, and the test.
COMPARED: tuple[tuple[str, str], ...] = (
    ("test", "test"),
    ("users", "users"),
    ("spawnRate", "spawn rate"),
    ("runTimeSeconds", "run time"),
    ("locustVersion", "Locust version"),
)


def _metadata_value(run: RunMetadata, field: str) -> str | None:
    value: Any = run.get(field)
    if isinstance(value, bool) or value is None or value == "":
        return None
    if isinstance(value, int | float):
        return plain_number(round(float(value), 3))
    # From the pod's creator: printable and short, whatever it was.
    return "".join(ch for ch in str(value)[:64] if ch.isprintable()) or None


def comparable(baseline: RunMetadata, current: RunMetadata) -> list[str]:
    """The metadata fields both runs say and that differ; [] when they are like with like."""
    differ = []
    for field, _ in COMPARED:
        before, after = _metadata_value(baseline, field), _metadata_value(current, field)
        if before is not None and after is not None and before != after:
            differ.append(field)
    return differ


def unknown_metadata(baseline: RunMetadata, current: RunMetadata) -> list[str]:
    """The metadata fields that either run does not say: not known to be like with like."""
    return [
        field
        for field, _ in COMPARED
        if _metadata_value(baseline, field) is None or _metadata_value(current, field) is None
    ]


def _run_of(summary: Summary) -> RunMetadata:
    run: Any = summary.get("run")
    return cast(RunMetadata, run) if isinstance(run, dict) else {}


def compare(baseline: Summary, current: Summary) -> Comparison:
    """Every number of both runs with its change, and the metadata that differ or are unknown."""
    before, after = _run_of(baseline), _run_of(current)
    labels = dict(COMPARED)
    fields = comparable(before, after) + unknown_metadata(before, after)
    return Comparison(
        numbers=[delta_of(measure.key, baseline, current) for measure in MEASURES],
        differences=[
            MetadataDifference(
                field=field,
                label=labels[field],
                baseline=_metadata_value(before, field),
                current=_metadata_value(after, field),
            )
            for field in fields
        ],
    )


def refused_differences(comparison: Comparison) -> list[MetadataDifference]:
    """The differences ``--strict-baseline`` refuses: known on both sides (unknown is not)."""
    return [
        difference
        for difference in comparison["differences"]
        if difference["baseline"] is not None and difference["current"] is not None
    ]


def describe_difference(difference: MetadataDifference) -> str:
    """One difference for humans: ``users 50 -> 100``, ``Locust version unknown (baseline)``."""
    before, after = difference["baseline"], difference["current"]
    if before is not None and after is not None:
        return f"{difference['label']} {before} -> {after}"
    sides = [side for side, value in (("baseline", before), ("current", after)) if value is None]
    return f"{difference['label']} unknown ({' and '.join(sides)})"


# ---------------------------------------------------------------- relative checks


def show_change(delta: NumberDelta) -> str:
    """A change as a relative check's ``delta`` says it: ``+12.5%``, ``+0.3pp``, ``+4ms``."""
    if delta["delta"] is None:
        return "-"
    if delta["unit"] == "%":
        return f"{delta['delta'] * 100:+.2f}pp"
    if delta["relative"] is not None:
        return f"{delta['relative'] * 100:+.1f}%"
    amount = delta["delta"]
    return f"{amount:+g}ms" if delta["unit"] == "ms" else f"{amount:+g}"


def show_value(measure_key: str, value: float) -> str:
    """A number as a check's ``value`` and ``baseline`` show it."""
    unit = _MEASURE[measure_key].unit
    if unit == "ms":
        return show_ms(round(value, 3))
    if unit == "%":
        return f"{plain_number(round(value * 100, 4))}%"
    return plain_number(round(value, 3))


@dataclass(frozen=True)
class RelativeCheck:
    """One relative check: its setting, the number it reads and which way is worse."""

    name: str  # the CheckResult's name: p95-regression
    setting: Setting
    measure: str  # the summary's field
    higher_is_worse: bool
    share: bool  # the limit is a share of the baseline's number (else points of a ratio)
    minimum_scale: float  # the least change's unit in the number's: seconds to ms
    reads: str

    def limit(self, settings: FinishSettings) -> Regression | None:
        """The limit ``settings`` set; None: no such check."""
        limit: Regression | None = getattr(settings, self.setting.field)
        return limit

    def judge(
        self, limit: Regression, baseline: Summary | None, current: Summary, *, strict: bool
    ) -> CheckResult:
        """This check with ``limit``: ``current`` against ``baseline`` (None: there is none)."""
        shown_limit = self.setting.format(limit)
        delta = delta_of(self.measure, baseline or {}, current)
        before, after = delta["baseline"], delta["current"]
        result = CheckResult(
            name=self.name, limit=shown_limit, value=None, passed=True, reads=self.reads
        )
        if after is not None:
            result["value"] = show_value(self.measure, after)
        if before is not None:
            result["baseline"] = show_value(self.measure, before)
        if baseline is None or before is None or after is None:
            # No baseline: a first run cannot regress, strict or not.
            result["passed"] = baseline is None or not strict
            result["state"] = CheckState.NOT_MADE
            return result
        worse = (after - before) if self.higher_is_worse else (before - after)
        allowed = before * limit.allowed if self.share else limit.allowed
        counts = worse >= limit.minimum * self.minimum_scale - 1e-9
        passed = not (counts and worse > allowed + 1e-9)
        result["delta"] = show_change(delta)
        result["passed"] = passed
        result["state"] = CheckState.PASSED if passed else CheckState.FAILED
        return result


RELATIVE_CHECKS: tuple[RelativeCheck, ...] = (
    RelativeCheck(
        "p95-regression",
        CHECK_P95_REGRESSION,
        "p95Ms",
        higher_is_worse=True,
        share=True,
        minimum_scale=1000.0,
        reads="Aggregated response_time_percentile_0.95 against the baseline's: at most the "
        "share higher; a smaller rise than the least change does not count",
    ),
    RelativeCheck(
        "p99-regression",
        CHECK_P99_REGRESSION,
        "p99Ms",
        higher_is_worse=True,
        share=True,
        minimum_scale=1000.0,
        reads="Aggregated response_time_percentile_0.99 against the baseline's: at most the "
        "share higher; a smaller rise than the least change does not count",
    ),
    RelativeCheck(
        "avg-regression",
        CHECK_AVG_REGRESSION,
        "avgMs",
        higher_is_worse=True,
        share=True,
        minimum_scale=1000.0,
        reads="Aggregated avg_response_time against the baseline's: at most the share higher; "
        "a smaller rise than the least change does not count",
    ),
    RelativeCheck(
        "rps-regression",
        CHECK_RPS_REGRESSION,
        "rps",
        higher_is_worse=False,
        share=True,
        minimum_scale=1.0,
        reads="Aggregated total_rps against the baseline's: at most the share lower; a smaller "
        "drop than the least change does not count",
    ),
    RelativeCheck(
        "fail-ratio-increase",
        CHECK_FAIL_RATIO_INCREASE,
        "failRatio",
        higher_is_worse=True,
        share=False,
        minimum_scale=1.0,
        reads="num_failures / num_requests against the baseline's: at most the percentage "
        "points higher; a smaller rise than the least change does not count",
    ),
)
RELATIVE_CHECK_NAMES = frozenset(check.name for check in RELATIVE_CHECKS)


def has_relative_checks(settings: FinishSettings) -> bool:
    """Whether ``settings`` set any relative check."""
    return any(check.limit(settings) is not None for check in RELATIVE_CHECKS)


def relative_checks(
    settings: FinishSettings, baseline: Summary | None, current: Summary
) -> list[CheckResult]:
    """Each relative check ``settings`` set, judged on ``current`` against ``baseline``."""
    results = []
    for check in RELATIVE_CHECKS:
        limit = check.limit(settings)
        if limit is not None:
            results.append(check.judge(limit, baseline, current, strict=settings.strict_checks))
    return results


_ENTRY_NUMBERS = ("requests", "failRatio", "avgMs", "p95Ms", "p99Ms", "rps")


def baseline_entry(baseline: Summary, current: Summary, uid: str = "") -> BaselineEntry:
    """What the current run's summary keeps of the baseline it was judged against."""
    numbers: dict[str, float | int] = {}
    for key in _ENTRY_NUMBERS:
        value = _MEASURE[key].value_of(baseline)
        if value is not None:
            numbers[key] = int(value) if key == "requests" else round(value, 6)
    run = _run_of(baseline)
    entry = BaselineEntry(
        uid=uid,
        differences=comparable(run, _run_of(current)),
        numbers=BaselineNumbers(**numbers),  # type: ignore[typeddict-item]
    )
    if "revision" in run:
        entry["revision"] = str(run["revision"])[:64]
    if "endedAt" in run:
        entry["finishedAt"] = str(run["endedAt"])[:40]
    return entry
