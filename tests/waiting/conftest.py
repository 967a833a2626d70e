"""Every `wait` here runs as outside GitHub Actions, even when the suite runs inside them;
the fake API server and a client of it, for the follower's tests."""

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.kube.client import KubeClient
from testkit import fake_kube


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    # `wait` appends to $GITHUB_STEP_SUMMARY on its own: a CI run of these tests must not
    # fill its own job's summary page with the fake tests' verdicts.
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture
def fake() -> Iterator[fake_kube.FakeKube]:
    with fake_kube.running() as api:
        yield api


@pytest.fixture
async def client(fake: fake_kube.FakeKube, tmp_path: Path) -> AsyncIterator[KubeClient]:
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "config", fake.url)
    api = await KubeClient.connect(str(kubeconfig))
    yield api
    await api.close()


async def printed(out: io.StringIO, text: str) -> None:
    """Until the follower has printed ``text``."""
    for _ in range(500):
        if text in out.getvalue():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never printed {text!r}: {out.getvalue()}")
