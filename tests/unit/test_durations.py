import time

import pytest

from app.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45s", 45),
        ("2m", 120),
        ("1h30m", 5400),
        ("90", 90),
        ("1.5s", 1.5),
        ("250ms", 0.25),
        (" 30s ", 30),
        ("0", 0),
        ("1m30s", 90),
    ],
)
def test_parses_what_users_write(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["soon", "-5m", "", "5 m", "1d", "m", "1.2.3s", "inf", "nan"])
def test_rejects_anything_else_with_a_message_that_says_what_works(text: str) -> None:
    with pytest.raises(ValueError, match=r"use e\.g\. 45s"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(30, "30s"), (300, "5m"), (3723, "1h2m3s"), (0, "0s"), (1.5, "1.5s")]
)
def test_formats_back_the_way_users_write(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(format_duration(seconds)) == seconds


def test_a_huge_value_is_refused_in_linear_time() -> None:
    # A backtracking regex took 18 s over this, stalling a webhook replica.
    attack = "1" * 32_000 + "x"
    started = time.perf_counter()
    with pytest.raises(ValueError, match="too long"):
        parse_duration(attack)
    assert time.perf_counter() - started < 1.0
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("1" * 20 + "x")


@pytest.mark.parametrize("text", ["0.01ms", "500000.5s", "0.0001s", "12.3456s", "167h59m59s"])
def test_every_accepted_value_formats_to_text_that_parses_back(text: str) -> None:
    seconds = parse_duration(text)
    assert parse_duration(format_duration(seconds)) == seconds
    assert "e" not in format_duration(seconds)


def test_more_than_a_week_is_refused() -> None:
    with pytest.raises(ValueError, match="longer than a week"):
        parse_duration("169h")
