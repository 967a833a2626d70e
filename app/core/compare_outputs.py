"""A comparison of two runs as people read it: text lines, a Markdown delta table and chart.

Pure renderers of :class:`app.core.compare.Comparison`, used by ``compare`` and by ``wait
--baseline`` in every format, so both say the same. A baseline that is not like with like is
flagged in each of them, first, where it cannot be missed.
"""

from app.core.compare import Comparison, NumberDelta, describe_difference
from app.core.markdown_text import md, md_row, md_table

# The latencies the chart shows, in this order (GitHub renders ```mermaid blocks).
_CHARTED = ("medianMs", "p95Ms", "p99Ms", "avgMs")


def _amount(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.2f}%"
    if unit:
        return f"{value:g} {unit}"
    return f"{value:g}"


def show_number(delta: NumberDelta, side: str) -> str:
    """The baseline's (``side`` "baseline") or the current run's number; ``-`` if none."""
    value = delta["baseline"] if side == "baseline" else delta["current"]
    return "-" if value is None else _amount(value, delta["unit"])


def show_delta(delta: NumberDelta) -> str:
    """The change: ``+20 ms (+20.0%)``, ``+1.00pp``; ``-`` when a side has no number."""
    change, relative = delta["delta"], delta["relative"]
    if change is None:
        return "-"
    if delta["unit"] == "%":
        return f"{change * 100:+.2f}pp"
    unit = f" {delta['unit']}" if delta["unit"] else ""
    shown = f"{change:+g}{unit}"
    return f"{shown} ({relative * 100:+.1f}%)" if relative is not None else shown


def flags(comparison: Comparison) -> list[str]:
    """What makes the baseline not like with like, one phrase each; [] when nothing does."""
    return [describe_difference(difference) for difference in comparison["differences"]]


def flag_line(comparison: Comparison) -> str | None:
    """The flag as one line, or None when the runs are like with like."""
    said = flags(comparison)
    return f"the baseline is not like with like: {'; '.join(said)}" if said else None


def comparison_lines(comparison: Comparison, baseline_name: str) -> list[str]:
    """The comparison for a terminal or a CI log."""
    lines = [f"  against the baseline {baseline_name}:"]
    flagged = flag_line(comparison)
    if flagged:
        lines.append(f"  warning: {flagged}")
    lines.append(f"  {'number':<12}{'baseline':>14}{'current':>14}  change")
    for delta in comparison["numbers"]:
        if delta["baseline"] is None and delta["current"] is None:
            continue
        lines.append(
            f"  {delta['label']:<12}{show_number(delta, 'baseline'):>14}"
            f"{show_number(delta, 'current'):>14}  {show_delta(delta)}"
        )
    return lines


def _chart(comparison: Comparison) -> list[str]:
    """Baseline and current latencies as a bar chart, those both runs have; [] if none."""
    charted = [
        delta
        for key in _CHARTED
        for delta in comparison["numbers"]
        if delta["key"] == key and delta["baseline"] is not None and delta["current"] is not None
    ]
    if not charted:
        return []
    labels = ", ".join(f'"{delta["label"]}"' for delta in charted)
    before = ", ".join(f"{delta['baseline']:g}" for delta in charted)
    after = ", ".join(f"{delta['current']:g}" for delta in charted)
    return [
        "```mermaid",
        "xychart-beta",
        '    title "Response times (ms): baseline, then current"',
        f"    x-axis [{labels}]",
        '    y-axis "ms"',
        f"    bar [{before}]",
        f"    bar [{after}]",
        "```",
        "",
        "Each pair of bars: the baseline's, then this run's.",
        "",
    ]


def comparison_markdown(comparison: Comparison, baseline_name: str) -> list[str]:
    """A Markdown section: the flag, the delta table and a small chart of the latencies."""
    lines = ["### Against the baseline", "", f"Baseline: {md(baseline_name)}.", ""]
    said = flags(comparison)
    if said:
        lines += [f"> **Not like with like:** {md('; '.join(said))}.", ""]
    rows = [
        md_row(
            delta["label"],
            show_number(delta, "baseline"),
            show_number(delta, "current"),
            show_delta(delta),
        )
        for delta in comparison["numbers"]
        if delta["baseline"] is not None or delta["current"] is not None
    ]
    lines += md_table(("number", "baseline", "current", "change"), "---:", rows)
    return lines + _chart(comparison)
