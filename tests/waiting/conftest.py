"""Every `wait` here runs as outside GitHub Actions, even when the suite runs inside them."""

import pytest


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    # `wait` appends to $GITHUB_STEP_SUMMARY on its own: a CI run of these tests must not
    # fill its own job's summary page with the fake tests' verdicts.
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
