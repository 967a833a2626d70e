from app.core.timestamps import format_time, parse_time

MOMENT = 1_796_126_400.123456  # 2026-12-01T12:00:00.123456Z


def test_kubernetes_stamps_at_each_precision() -> None:
    assert format_time(MOMENT) == "2026-12-01T12:00:00Z"
    assert format_time(MOMENT, fraction_digits=3) == "2026-12-01T12:00:00.123Z"
    assert format_time(MOMENT, fraction_digits=6) == "2026-12-01T12:00:00.123456Z"


def test_what_is_written_reads_back() -> None:
    assert parse_time(format_time(MOMENT)) == 1_796_126_400
    assert parse_time(format_time(MOMENT, fraction_digits=6)) == MOMENT


def test_absent_or_unreadable_is_none() -> None:
    assert parse_time(None) is None
    assert parse_time("") is None
    assert parse_time("yesterday") is None


def test_stamps_in_a_row_each_name_their_own_moment() -> None:
    # The text of the last second is kept for the next line: a later or earlier moment,
    # and a fraction that rounds up into the next second, must not reuse it.
    assert format_time(MOMENT, fraction_digits=3) == "2026-12-01T12:00:00.123Z"
    assert format_time(MOMENT + 1, fraction_digits=3) == "2026-12-01T12:00:01.123Z"
    assert format_time(MOMENT - 60) == "2026-12-01T11:59:00Z"
    assert format_time(1_796_126_400.9999996, fraction_digits=6) == "2026-12-01T12:00:01.000000Z"
    assert format_time(1_796_126_400.9999996, fraction_digits=3) == "2026-12-01T12:00:01.000Z"
    assert format_time(1_796_126_400.9994, fraction_digits=3) == "2026-12-01T12:00:00.999Z"
