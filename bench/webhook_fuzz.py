"""Fuzz the real webhook process over TLS: no input may crash it, stall it, or break a pod.

    uv run --locked python -m bench.webhook_fuzz [--reviews 20000] [--seed 11]

The property tests in tests/webhook/test_fuzz.py call the handler in-process; this campaign
goes through everything a hostile or broken client reaches: TLS, uvicorn's HTTP parser, the
body cap, logging, and one event loop shared with /healthz. Each input is a mutation of a
captured operator pod (tests/fixtures/pods) or of its envelope and HTTP request. It prints
what the webhook answered and exits 1 if anything a user would notice happened: a 5xx, a
dropped connection or a dead process, an answer slower than 2 s (the API server's timeout in
our manifests: the pod would be created unmanaged), a slow /healthz, an ``allowed: false``
(a blocked test), our fail-open path, a status the input does not call for, or a patch that
does not apply, breaks the pod, would be patched again on reinvocation, or hands the
finisher an environment it rejects (it would exit 2 and fail the test).

Every input is rebuilt from ``(seed, index)`` alone: ``--show INDEX`` prints one, so a
reported defect can be replayed with curl.
"""

import argparse
import sys

from testkit.webhook_fuzz import fuzz_input, report, run_campaign


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reviews", type=int, default=20000, help="inputs to send (20000)")
    parser.add_argument("--seed", type=int, default=11, help="campaign seed (11)")
    parser.add_argument("--budget", type=float, default=900, help="seconds at most (900)")
    parser.add_argument("--show", type=int, help="print input INDEX's request and exit")
    args = parser.parse_args(argv)
    if args.show is not None:
        sent = fuzz_input(args.seed, args.show)
        print(f"# {sent.method} {sent.path} Content-Type: {sent.content_type!r}", file=sys.stderr)
        print(f"# {sent.family}: {sent.description}", file=sys.stderr)
        sys.stdout.buffer.write(sent.body)
        return 0
    tally = run_campaign(args.reviews, args.seed, args.budget)
    print(report(tally, args.seed))
    return 1 if tally.defects else 0


if __name__ == "__main__":
    sys.exit(main())
