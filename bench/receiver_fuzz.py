"""Fuzz the report receiver in its own process: no body may cost a 5xx, its memory or its loop.

    uv run --locked python -m bench.receiver_fuzz [--bodies 20000] [--seed 5]
    uv run --locked python -m bench.receiver_fuzz --slowloris 800 [--bound 40]
    uv run --locked python -m bench.receiver_fuzz --receiver OLD.py ...  # measure another version

Each input is a whole hostile HTTP request to ``POST /v1/reports`` (testkit/receiver_fuzz.py:
bad framing and part headers, huge, deep or many notes, too many or oversize parts, gzip
bombs, bad HTTP, slow senders), sent one at a time so that each one's peak RSS and longest
event-loop hold are its own. It prints the figures and exits 1 on any defect: a 5xx, an
unexpected status, an answer that is not one line or larger than a finisher reads, more than
+16 MiB of peak RSS, or the loop held 1 s. ``--slowloris N`` opens N connections that send a
byte every 2 s (half in their headers, half in their bodies) against the production deadlines.

Every input is rebuilt from ``(seed, index)`` alone: ``--show INDEX`` prints one request, so a
defect can be replayed with ``nc 127.0.0.1 PORT``.
"""

import argparse
import sys

from testkit.receiver_fuzz import fuzz_input, report, run_campaign, slow_report, slowloris


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bodies", type=int, default=20000, help="inputs to send (20000)")
    parser.add_argument("--seed", type=int, default=5, help="campaign seed (5)")
    parser.add_argument("--budget", type=float, default=900, help="seconds at most (900)")
    parser.add_argument("--receiver", help="another artifact_receiver.py to measure")
    parser.add_argument("--show", type=int, help="print input INDEX's request and exit")
    parser.add_argument("--slowloris", type=int, help="measure N slow connections instead")
    parser.add_argument("--bound", type=float, default=40, help="slowloris: give up at (40 s)")
    args = parser.parse_args(argv)
    if args.show is not None:
        sent = fuzz_input(args.seed, args.show)
        print(f"# {sent.family}: {sent.description}; expect {sorted(sent.expect)}", file=sys.stderr)
        sys.stdout.buffer.write(sent.request)
        return 0
    if args.slowloris:
        results = slowloris(args.slowloris, bound=args.bound, receiver_file=args.receiver)
        print(slow_report(results, args.bound))
        return 1 if any(result.still_open for result in results) else 0
    tally = run_campaign(args.bodies, args.seed, args.budget, args.receiver)
    print(report(tally, args.seed))
    return 1 if tally.defects else 0


if __name__ == "__main__":
    sys.exit(main())
