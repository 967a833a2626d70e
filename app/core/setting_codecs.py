"""How each kind of setting is written: parsed from what users write, and written back.

One codec per kind of value (a duration, a TTL, a choice, a ratio, a rate, a check's limit, a
retention), used by the setting table in :mod:`app.core.settings` whatever the source. Every
value a codec writes parses back to itself, and every refusal is a :class:`SettingError`
whose message quotes the value briefly and says what would be accepted.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from app.core.durations import MAX_SECONDS, format_duration, parse_duration

# The TTL's word for "no floor: end on the confirmed final scrape".
AUTO_TTL = "auto"


class SettingError(ValueError):
    """A value a setting cannot take; the message says what it can take."""

    def __init__(self, value: object, expected: str, shown_as: str | None = None) -> None:
        super().__init__(f"{shown_as or shown(value)} is not {expected}")
        self.value = value
        self.expected = expected


def shown(value: object) -> str:
    """A value as quoted in a one-line message: short, and never the whole of a huge input."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 24 else text[:21] + "..."
    if not isinstance(value, str):
        return "a non-string"
    return repr(value if len(value) <= 24 else value[:21] + "...")


DURATION_TEXT = "a duration like 45s or 2m"


def duration_value(value: object) -> float:
    """Text as users write it; a plain non-negative number of seconds from YAML too."""
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            raise SettingError(value, DURATION_TEXT) from None
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if is_number and 0 <= value <= MAX_SECONDS:  # type: ignore[operator]
        return round(float(value), 3)  # type: ignore[arg-type]
    raise SettingError(value, DURATION_TEXT)


_Choice = TypeVar("_Choice", bound=StrEnum)


def ttl_value(value: object) -> float | None:
    """A TTL: ``auto`` (None: no floor) or a duration."""
    if isinstance(value, str) and value.strip().lower() == AUTO_TTL:
        return None
    try:
        return duration_value(value)
    except SettingError:
        raise SettingError(value, TTL_TEXT) from None


def show_ttl(seconds: float | None) -> str:
    """A TTL as users write it."""
    return AUTO_TTL if seconds is None else format_duration(seconds)


TTL_TEXT = f"{AUTO_TTL} or {DURATION_TEXT}"


def one_of(choices: type[StrEnum]) -> str:
    """What a choice accepts, for messages: ``one of auto, true, false``."""
    return "one of " + ", ".join(choice.value for choice in choices)


def choice_parser(
    choices: type[_Choice], aliases: Mapping[str, _Choice]
) -> Callable[[object], _Choice]:
    """A choice's parser: any word of ``choices`` (any case), or of ``aliases``."""
    expected = one_of(choices)

    def parse(value: object) -> _Choice:
        # YAML turns an unquoted true/false into a bool; it means the word.
        text = str(value).lower() if isinstance(value, bool) else value
        if isinstance(text, str):
            word = text.strip().lower()
            for choice in choices:
                if word == choice.value:
                    return choice
            if word in aliases:
                return aliases[word]
        raise SettingError(value, expected)

    return parse


def show_choice(value: StrEnum) -> str:
    """A choice as users write it."""
    return value.value


SWITCH_TEXT = "true or false"


def switch_value(value: object) -> bool:
    """On or off: ``true`` or ``false`` in any case, or a YAML boolean."""
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word in ("true", "false"):
        return word == "true"
    raise SettingError(value, SWITCH_TEXT)


def show_switch(value: bool) -> str:
    """A switch as users write it."""
    return "true" if value else "false"


NO_CHECK = "none"
RATIO_TEXT = f"a ratio from 0 to 1 like 0.01, or {NO_CHECK}"
LATENCY_TEXT = f"a duration like 500ms, or {NO_CHECK}"
RATE_TEXT = f"requests per second like 50, or {NO_CHECK}"
# Limits are kept to these many decimals, so what is written reads back the same.
_RATIO_DECIMALS = 6
_RATE_DECIMALS = 3
MAX_RPS = 10_000_000.0
# A plain decimal: never "nan", "inf", "1e3", a sign, or an endless string of digits.
_DECIMAL = re.compile(r"\d{1,16}(\.\d{0,15})?|\.\d{1,15}")


def _decimal(value: object, expected: str, decimals: int, highest: float) -> float:
    """A non-negative decimal (``0.01``, ``50``), from text or a YAML number."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SettingError(value, expected)
    if isinstance(value, str) and not _DECIMAL.fullmatch(value.strip()):
        raise SettingError(value, expected)
    number = float(value)
    if not 0 <= number <= highest:  # also refuses nan
        raise SettingError(value, expected)
    return round(number, decimals)


def _show_decimal(number: float, decimals: int) -> str:
    return f"{number:.{decimals}f}".rstrip("0").rstrip(".")


def ratio_value(value: object) -> float:
    """A ratio from 0 to 1, kept to six decimals."""
    return _decimal(value, RATIO_TEXT, _RATIO_DECIMALS, 1.0)


def rate_value(value: object) -> float:
    """Requests per second, kept to three decimals."""
    return _decimal(value, RATE_TEXT, _RATE_DECIMALS, MAX_RPS)


def latency_value(value: object) -> float:
    """A response time: a duration."""
    try:
        return duration_value(value)
    except SettingError:
        raise SettingError(value, LATENCY_TEXT) from None


_Limit = TypeVar("_Limit")


def limit_value(parse: Callable[[object], _Limit]) -> Callable[[object], _Limit | None]:
    """A check's codec: its limit, or None for ``none`` (no such check)."""

    def parse_limit(value: object) -> _Limit | None:
        if isinstance(value, str) and value.strip().lower() == NO_CHECK:
            return None
        return parse(value)

    return parse_limit


def show_limit(show: Callable[[_Limit], str]) -> Callable[[_Limit | None], str]:
    """A check's writer: its limit, or ``none``."""

    def show_one(value: _Limit | None) -> str:
        return NO_CHECK if value is None else show(value)

    return show_one


FOREVER = "forever"
KEEP_FOREVER = float("inf")
KEEP_TEXT = f"a duration like 2h, or {FOREVER}"


def keep_value(value: object) -> float:
    """How long to keep a Job: a duration, or ``forever`` (:data:`KEEP_FOREVER`)."""
    if isinstance(value, str) and value.strip().lower() == FOREVER:
        return KEEP_FOREVER
    try:
        return duration_value(value)
    except SettingError:
        raise SettingError(value, KEEP_TEXT) from None


def show_keep(seconds: float) -> str:
    """A retention as users write it."""
    return FOREVER if seconds == KEEP_FOREVER else format_duration(seconds)


def show_ratio(ratio: float) -> str:
    """A ratio as few digits as it needs: ``0.01``."""
    return _show_decimal(ratio, _RATIO_DECIMALS)


def show_rate(rate: float) -> str:
    """A rate as few digits as it needs: ``50``, ``12.5``."""
    return _show_decimal(rate, _RATE_DECIMALS)


# ---------------------------------------------------------------- relative checks' limits


@dataclass(frozen=True)
class Regression:
    """How much worse than its baseline a run may be, and the least change that counts.

    ``allowed`` is a share of the baseline's number (0.1 for ``10%``) for latencies and
    throughput, and a ratio of requests (0.005 for ``0.5pp``) for the failure ratio.
    ``minimum`` is in the number's own unit (seconds, requests per second, a ratio): a change
    smaller than it is noise and never fails a build, however large in percent.
    """

    allowed: float
    minimum: float


@dataclass(frozen=True)
class _RegressionKind:
    """How one kind of relative limit is written: ``10% min 5ms``, ``0.5pp min 0.1pp``."""

    expected: str
    unit: str  # of ``allowed``: "%" or "pp"
    highest: float  # of ``allowed``, as written
    default_minimum: float
    parse_minimum: Callable[[str], float]
    show_minimum: Callable[[float], str]


def _regression_parser(kind: _RegressionKind) -> Callable[[object], Regression]:
    # The least change is optional: "10%" or "10% min 20ms".
    least = r"(?:\s+min\s+(?P<min>\S{1,32}))?"
    shape = re.compile(rf"\s*(?P<allowed>[0-9.]{{1,20}})\s*{kind.unit}{least}\s*")

    def parse(value: object) -> Regression:
        matched = shape.fullmatch(value) if isinstance(value, str) else None
        if matched is None:
            raise SettingError(value, kind.expected)
        try:
            allowed = _decimal(matched["allowed"], kind.expected, 3, kind.highest)
            minimum = matched["min"]
            least = kind.default_minimum if minimum is None else kind.parse_minimum(minimum)
        except (SettingError, ValueError):
            raise SettingError(value, kind.expected) from None
        return Regression(round(allowed / 100, 6), least)

    return parse


def _regression_writer(kind: _RegressionKind) -> Callable[[Regression], str]:
    def show(limit: Regression) -> str:
        allowed = _show_decimal(limit.allowed * 100, 3)
        return f"{allowed}{kind.unit} min {kind.show_minimum(limit.minimum)}"

    return show


def _points(text: str) -> float:
    """Percentage points (``0.1pp``) as a ratio of requests (0.001)."""
    if not text.endswith("pp"):
        raise ValueError(text)
    return round(_decimal(text[:-2], "", 3, 100.0) / 100, 6)


def _show_milliseconds(seconds: float) -> str:
    return f"{_show_decimal(seconds * 1000, 3)}ms"


def _show_points(ratio: float) -> str:
    return f"{_show_decimal(ratio * 100, 3)}pp"


_LATENCY_REGRESSION = _RegressionKind(
    f"a percentage like 10% or 10% min 20ms, or {NO_CHECK}",
    "%",
    10_000.0,
    0.005,
    latency_value,
    _show_milliseconds,
)
_RPS_REGRESSION = _RegressionKind(
    f"a percentage like 20% or 20% min 5 (req/s), or {NO_CHECK}",
    "%",
    100.0,
    1.0,
    rate_value,
    show_rate,
)
_FAIL_RATIO_INCREASE = _RegressionKind(
    f"percentage points like 0.5pp or 0.5pp min 0.2pp, or {NO_CHECK}",
    "pp",
    100.0,
    0.001,
    _points,
    _show_points,
)
LATENCY_REGRESSION_TEXT = _LATENCY_REGRESSION.expected
RPS_REGRESSION_TEXT = _RPS_REGRESSION.expected
FAIL_RATIO_INCREASE_TEXT = _FAIL_RATIO_INCREASE.expected
latency_regression_value = _regression_parser(_LATENCY_REGRESSION)
rps_regression_value = _regression_parser(_RPS_REGRESSION)
fail_ratio_increase_value = _regression_parser(_FAIL_RATIO_INCREASE)
show_latency_regression = _regression_writer(_LATENCY_REGRESSION)
show_rps_regression = _regression_writer(_RPS_REGRESSION)
show_fail_ratio_increase = _regression_writer(_FAIL_RATIO_INCREASE)
