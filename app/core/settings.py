"""The settings that decide how one pod is finished and judged: one codec each, one set of defaults.

A setting reaches us from five sources: a command-line flag, the cluster ConfigMap, a pod
annotation, the finisher's environment and the status annotation of a pod mutated earlier.
Each source reads its values through :func:`read_settings`, which parses every setting with
that setting's one codec, and decides only what a bad value means there: a bad annotation
must never fail admission (warn and use the default), a pod written by another version is
read as well as it can be, and a flag, the ConfigMap or the finisher's env is refused.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from app.core import names
from app.core.durations import format_duration
from app.core.env_names import ENV_MAX_WAIT, ENV_TTL, ENV_WAIT_FOR_SCRAPE
from app.core.setting_codecs import (
    DURATION_TEXT,
    FAIL_RATIO_INCREASE_TEXT,
    KEEP_TEXT,
    LATENCY_REGRESSION_TEXT,
    LATENCY_TEXT,
    RATE_TEXT,
    RATIO_TEXT,
    RPS_REGRESSION_TEXT,
    SWITCH_TEXT,
    TTL_TEXT,
    Regression,
    SettingError,
    choice_parser,
    duration_value,
    fail_ratio_increase_value,
    keep_value,
    latency_regression_value,
    latency_value,
    limit_value,
    one_of,
    rate_value,
    ratio_value,
    rps_regression_value,
    show_choice,
    show_fail_ratio_increase,
    show_keep,
    show_latency_regression,
    show_limit,
    show_rate,
    show_ratio,
    show_rps_regression,
    show_switch,
    show_ttl,
    switch_value,
    ttl_value,
)
from app.core.setting_warnings import SettingWarning, ignored

# The API server shows warnings to users and may truncate long ones; stay well under.
MAX_WARNING_LENGTH = 120


class WaitForScrape(StrEnum):
    """Whether the exporter waits for Prometheus to collect the final numbers."""

    AUTO = "auto"  # only if someone scraped the exporter during the test
    TRUE = "true"
    FALSE = "false"


class Strategy(StrEnum):
    """Who ends the exporter."""

    FINISHER = "finisher"  # the injected finisher container, inside the pod
    CONTROLLER = "controller"  # the controller, over the pod network


# Version 0.1 called the in-pod finisher "terminator"; pods, ConfigMaps and values files
# written then keep meaning the same.
STRATEGY_ALIASES: Mapping[str, Strategy] = {"terminator": Strategy.FINISHER}


@dataclass(frozen=True)
class FinishSettings:
    """How one test pod is finished, and the checks its verdict must pass; also the defaults.

    The defaults below are the only ones: flags, the ConfigMap, the chart and the finisher
    all start from them. A check of None is not made (see :mod:`app.core.checks`).
    """

    ttl_seconds: float | None = None  # a floor the user set; None: end on the final scrape
    wait_for_scrape: WaitForScrape = WaitForScrape.AUTO
    max_wait_seconds: float = 300.0
    strategy: Strategy = Strategy.FINISHER
    check_fail_ratio: float | None = None  # at most this share of requests failed
    check_p95_seconds: float | None = None  # at most
    check_p99_seconds: float | None = None  # at most
    check_avg_seconds: float | None = None  # at most
    check_rps: float | None = None  # at least
    # Relative checks, against a baseline run (app/core/compare.py): how much worse it may be.
    check_p95_regression: Regression | None = None
    check_p99_regression: Regression | None = None
    check_avg_regression: Regression | None = None
    check_rps_regression: Regression | None = None
    check_fail_ratio_increase: Regression | None = None
    strict_checks: bool = False  # a check that could not be made fails the verdict
    # How long a finished test's Job is kept (KEEP_FOREVER: no TTL); None: the Job's own TTL.
    keep_passed_seconds: float | None = None
    keep_failed_seconds: float | None = None

    def describe(self) -> dict[str, str]:
        """The settings as users write them, keyed as in the ConfigMap and status annotation.

        Checks appear only when set, so a pod without any is described as before they existed.
        """
        described = {setting.key: setting.show(self) for setting in SETTINGS}
        for check in (*CHECK_SETTINGS, *RETENTION_SETTINGS):  # retention too: only when set
            if check.default(self) != check.default(DEFAULT_SETTINGS):
                described[check.key] = check.show(self)
        return described


DEFAULT_SETTINGS = FinishSettings()

# With no TTL set, the exporter ends as soon as a final scrape is confirmed, and only when
# none can be (no scrape during the test, an exporter without promhttp's counter) after this.
DEFAULT_TTL_SECONDS = 30.0


@dataclass(frozen=True)
class Setting:
    """One setting: where each source keeps it, how its text is parsed and written."""

    field: str  # the FinishSettings attribute
    key: str  # ConfigMap key, status annotation key, Helm value
    annotation: str
    env: str | None  # in the finisher's environment, if the finisher needs it
    expected: str  # what a good value looks like, for messages
    parse: Callable[[object], Any]  # raises SettingError
    format: Callable[[Any], str]
    description: str  # one line, for --help and the docs

    @property
    def option(self) -> str:
        """The command-line option's name, without dashes: the annotation's own name."""
        return self.annotation.removeprefix(f"{names.DOMAIN}/")

    def default(self, base: FinishSettings = DEFAULT_SETTINGS) -> Any:
        """This setting's value in ``base``."""
        return getattr(base, self.field)

    def show(self, settings: FinishSettings) -> str:
        """This setting's value in ``settings`` as users write it."""
        return self.format(getattr(settings, self.field))


STRATEGY = Setting(
    "strategy",
    "strategy",
    names.STRATEGY_ANNOTATION,
    None,
    one_of(Strategy),
    choice_parser(Strategy, STRATEGY_ALIASES),
    show_choice,
    "who ends the exporter: the finisher in the pod, or the controller",
)
TTL = Setting(
    "ttl_seconds",
    "ttl",
    names.TTL_ANNOTATION,
    ENV_TTL,
    TTL_TEXT,
    ttl_value,
    show_ttl,
    "least time the exporter stays up after the master exits (auto: none, end on the final "
    "scrape, 30s if none can be confirmed)",
)
WAIT_FOR_SCRAPE = Setting(
    "wait_for_scrape",
    "waitForScrape",
    names.WAIT_FOR_SCRAPE_ANNOTATION,
    ENV_WAIT_FOR_SCRAPE,
    one_of(WaitForScrape),
    choice_parser(WaitForScrape, {}),
    show_choice,
    "wait for Prometheus to collect the final numbers",
)
MAX_WAIT = Setting(
    "max_wait_seconds",
    "maxWait",
    names.MAX_WAIT_ANNOTATION,
    ENV_MAX_WAIT,
    DURATION_TEXT,
    duration_value,
    format_duration,
    "longest wait for that final scrape after the master exits",
)
SETTINGS: tuple[Setting, ...] = (TTL, WAIT_FOR_SCRAPE, MAX_WAIT, STRATEGY)
# How long the exporter is kept up: nothing of it applies to a master without an exporter.
EXPORTER_SETTINGS: tuple[Setting, ...] = (TTL, WAIT_FOR_SCRAPE, MAX_WAIT)


# ---------------------------------------------------------------- the verdict policy's limits
#
# Checks are settings like the others (an annotation per pod, a ConfigMap default, carried in
# the status annotation to the controller and ``wait``), but none is set by default, none
# reaches the finisher, and the webhook's flags do not set them: only the ConfigMap and the
# annotations do. ``none`` turns off, for one pod, a check the cluster sets by default.

CHECK_FAIL_RATIO = Setting(
    "check_fail_ratio",
    "checks.failRatio",
    names.CHECK_FAIL_RATIO_ANNOTATION,
    None,
    RATIO_TEXT,
    limit_value(ratio_value),
    show_limit(show_ratio),
    "the highest share of failed requests that passes",
)
CHECK_P95 = Setting(
    "check_p95_seconds",
    "checks.p95",
    names.CHECK_P95_ANNOTATION,
    None,
    LATENCY_TEXT,
    limit_value(latency_value),
    show_limit(format_duration),
    "the highest 95th percentile response time that passes",
)
CHECK_P99 = Setting(
    "check_p99_seconds",
    "checks.p99",
    names.CHECK_P99_ANNOTATION,
    None,
    LATENCY_TEXT,
    limit_value(latency_value),
    show_limit(format_duration),
    "the highest 99th percentile response time that passes",
)
CHECK_AVG = Setting(
    "check_avg_seconds",
    "checks.avg",
    names.CHECK_AVG_ANNOTATION,
    None,
    LATENCY_TEXT,
    limit_value(latency_value),
    show_limit(format_duration),
    "the highest average response time that passes",
)
CHECK_RPS = Setting(
    "check_rps",
    "checks.rps",
    names.CHECK_RPS_ANNOTATION,
    None,
    RATE_TEXT,
    limit_value(rate_value),
    show_limit(show_rate),
    "the lowest throughput (requests per second over the test) that passes",
)

# Relative checks: judged against a baseline run (``wait --baseline``, ``compare``, and the
# controller against the test's previous run), never on their own: without a baseline, or
# without the number on either side, such a check is not made.
CHECK_P95_REGRESSION = Setting(
    "check_p95_regression",
    "checks.p95Regression",
    names.CHECK_P95_REGRESSION_ANNOTATION,
    None,
    LATENCY_REGRESSION_TEXT,
    limit_value(latency_regression_value),
    show_limit(show_latency_regression),
    "how much higher than the baseline's the 95th percentile may be (10%; least change 5ms)",
)
CHECK_P99_REGRESSION = Setting(
    "check_p99_regression",
    "checks.p99Regression",
    names.CHECK_P99_REGRESSION_ANNOTATION,
    None,
    LATENCY_REGRESSION_TEXT,
    limit_value(latency_regression_value),
    show_limit(show_latency_regression),
    "how much higher than the baseline's the 99th percentile may be (10%; least change 5ms)",
)
CHECK_AVG_REGRESSION = Setting(
    "check_avg_regression",
    "checks.avgRegression",
    names.CHECK_AVG_REGRESSION_ANNOTATION,
    None,
    LATENCY_REGRESSION_TEXT,
    limit_value(latency_regression_value),
    show_limit(show_latency_regression),
    "how much higher than the baseline's the average response time may be (least change 5ms)",
)
CHECK_RPS_REGRESSION = Setting(
    "check_rps_regression",
    "checks.rpsRegression",
    names.CHECK_RPS_REGRESSION_ANNOTATION,
    None,
    RPS_REGRESSION_TEXT,
    limit_value(rps_regression_value),
    show_limit(show_rps_regression),
    "how much lower than the baseline's the throughput may be (20%; least change 1 req/s)",
)
CHECK_FAIL_RATIO_INCREASE = Setting(
    "check_fail_ratio_increase",
    "checks.failRatioIncrease",
    names.CHECK_FAIL_RATIO_INCREASE_ANNOTATION,
    None,
    FAIL_RATIO_INCREASE_TEXT,
    limit_value(fail_ratio_increase_value),
    show_limit(show_fail_ratio_increase),
    "how many percentage points above the baseline's the failure ratio may be (least 0.1pp)",
)
RELATIVE_CHECK_SETTINGS: tuple[Setting, ...] = (
    CHECK_P95_REGRESSION,
    CHECK_P99_REGRESSION,
    CHECK_AVG_REGRESSION,
    CHECK_RPS_REGRESSION,
    CHECK_FAIL_RATIO_INCREASE,
)
STRICT_CHECKS = Setting(
    "strict_checks",
    "checks.strict",
    names.STRICT_CHECKS_ANNOTATION,
    None,
    SWITCH_TEXT,
    switch_value,
    show_switch,
    "a check that could not be made (no number for it) fails the test instead of not counting",
)
CHECK_SETTINGS: tuple[Setting, ...] = (
    CHECK_FAIL_RATIO,
    CHECK_P95,
    CHECK_P99,
    CHECK_AVG,
    CHECK_RPS,
    *RELATIVE_CHECK_SETTINGS,
    STRICT_CHECKS,
)


# ---------------------------------------------------------------- retention
#
# How long the Job of a finished test is kept, for passed and failed tests apart: set like
# the checks (a pod annotation, a ConfigMap default, carried in the status annotation), and
# also per namespace, which only the controller reads (app/core/retention.py). None of them
# set leaves the Job's own ttlSecondsAfterFinished alone.

KEEP_PASSED = Setting(
    "keep_passed_seconds",
    "retention.passed",
    names.KEEP_PASSED_ANNOTATION,
    None,
    KEEP_TEXT,
    keep_value,
    show_keep,
    "how long a passed test's Job is kept after it finished (forever: never deleted)",
)
KEEP_FAILED = Setting(
    "keep_failed_seconds",
    "retention.failed",
    names.KEEP_FAILED_ANNOTATION,
    None,
    KEEP_TEXT,
    keep_value,
    show_keep,
    "how long a failed test's Job is kept after it finished (forever: never deleted)",
)
RETENTION_SETTINGS: tuple[Setting, ...] = (KEEP_PASSED, KEEP_FAILED)

# ---------------------------------------------------------------- the topics
#
# Grouped as kopf groups its operator settings: each topic is one section of the cluster
# ConfigMap and of the Helm values (finishing at the top level, then ``checks.*`` and
# ``retention.*``), and one part of the reference docs.
TOPICS: Mapping[str, tuple[Setting, ...]] = {
    "finishing": SETTINGS,
    "checks": CHECK_SETTINGS,
    "retention": RETENTION_SETTINGS,
}
ALL_SETTINGS: tuple[Setting, ...] = tuple(s for group in TOPICS.values() for s in group)


@dataclass(frozen=True)
class Rejected:
    """A value one source gave that its setting cannot take."""

    setting: Setting
    name: str  # what the source calls it: a key, an annotation, a variable
    error: SettingError


def read_settings(
    values: Mapping[str, Any],
    name_of: Callable[[Setting], str | None],
    base: FinishSettings = DEFAULT_SETTINGS,
    *,
    text_only: bool = False,
) -> tuple[FinishSettings, list[Rejected]]:
    """The settings in ``values`` (each found under ``name_of(setting)``) on top of ``base``.

    A rejected value leaves ``base``'s; the caller decides whether that is a warning or an
    error. ``text_only`` rejects anything but strings, for sources that hold only text.
    """
    changes: dict[str, Any] = {}
    rejected: list[Rejected] = []
    for setting in ALL_SETTINGS:
        name = name_of(setting)
        if name is None or name not in values:
            continue
        value = values[name]
        try:
            if text_only and not isinstance(value, str):
                raise SettingError(value, setting.expected, shown_as="a non-string")
            changes[setting.field] = setting.parse(value)
        except SettingError as error:
            rejected.append(Rejected(setting, name, error))
    return (replace(base, **changes) if changes else base), rejected


def warning(message: str) -> str:
    """A warning clipped to what ``kubectl`` shows in full."""
    if len(message) <= MAX_WARNING_LENGTH:
        return message
    return message[: MAX_WARNING_LENGTH - 3] + "..."


def resolve_settings(
    annotations: Mapping[str, Any], defaults: FinishSettings
) -> tuple[FinishSettings, list[SettingWarning]]:
    """Apply a pod's annotations on top of the defaults.

    Returns:
        The effective settings and one warning per annotation that could not be used.
    """
    # Annotations are text by the API's contract; anything else is a malformed review.
    settings, rejected = read_settings(
        annotations, lambda s: s.annotation, defaults, text_only=True
    )
    return settings, [_ignored(bad, defaults) for bad in rejected]


def without_exporter(
    annotations: Mapping[str, Any], warned: Sequence[SettingWarning]
) -> list[SettingWarning]:
    """The exporter's settings a pod without an exporter sets: they do not apply.

    One warning per annotation: one already ``warned`` about is not warned about again.
    """
    said = {warning.setting for warning in warned}
    return [
        ignored(name, value, "does not apply: the master has no exporter", "ignored")
        for name in (setting.annotation for setting in EXPORTER_SETTINGS)
        if isinstance(value := annotations.get(name), str) and name not in said
    ]


def _ignored(bad: Rejected, defaults: FinishSettings) -> SettingWarning:
    value = bad.error.value
    if isinstance(value, str):
        return ignored(bad.name, value, f"is not {bad.error.expected}", _instead(bad, defaults))
    # Only a malformed review holds one: say what it was, not its value.
    return ignored(bad.name, "", str(bad.error), _instead(bad, defaults))


def _instead(bad: Rejected, defaults: FinishSettings) -> str:
    """What stands for a rejected annotation: the default, or, for a check, none at all."""
    setting = bad.setting
    if setting in RETENTION_SETTINGS:  # the namespace's default comes first, at the verdict
        return "using the namespace's or cluster's"
    if setting in CHECK_SETTINGS and setting.default(defaults) is None:
        return "no check"
    return f"using the default {setting.show(defaults)}"
