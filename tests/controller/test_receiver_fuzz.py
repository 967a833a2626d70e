"""A short run of ``python -m bench.receiver_fuzz`` in the unit tests.

The full 20,000-body campaign is a benchmark (``make bench``); this keeps its generator, its
judge and the receiver's bounds in working order between runs, against the real receiver in
its own process. The bounds asserted are the campaign's own (no 5xx, one-line answers, at most
+16 MiB and a loop never held 1 s): wide enough for a slow, busy 2-core machine.
"""

from testkit.receiver_fuzz import SCHEDULE, fuzz_input, report, run_campaign


def test_every_input_is_rebuilt_from_its_seed_and_index_alone() -> None:
    for index in range(len(SCHEDULE)):
        assert fuzz_input(7, index) == fuzz_input(7, index)


def test_a_short_campaign_finds_no_defect() -> None:
    tally = run_campaign(len(SCHEDULE) * 8, seed=5, budget=60)
    assert not tally.defects, report(tally, 5)
    assert tally.statuses[500] == 0
    assert set(tally.families) == {fuzz_input(5, k).family for k in range(len(SCHEDULE))}
