"""The fuzz campaigns' one report shape: a table of measures, then the defects or "no defects".

The webhook's and the receiver's campaigns (``webhook_fuzz``, ``receiver_fuzz``) print their
results the same way, so that docs/benchmarks.md reads them alike.
"""

from collections.abc import Mapping, Sequence


def fuzz_report(
    rows: Sequence[tuple[str, str]],
    note: str,
    defects: Mapping[str, Sequence[str]],
    counts: Mapping[str, int],
) -> str:
    """The table of ``rows``, ``note`` below it, then each kind of defect with its examples."""
    lines = ["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    lines.append(f"\n{note}")
    if defects:
        lines.append("\nDEFECTS (replay one with --show INDEX):")
        for kind, examples in defects.items():
            lines.append(f"- {kind}: {counts[kind]}")
            lines += [f"    {example}" for example in examples]
    else:
        lines.append("\nno defects")
    return "\n".join(lines)
