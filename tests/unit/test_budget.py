"""RequestBudget: rate limit, concurrency cap, AIMD back-off and recovery.

Time is read from anyio's clock (the loop's, which the budget uses too). Only lower
bounds are asserted on elapsed time: a sleep never ends early, so they cannot flake.
"""

from __future__ import annotations

import anyio
import pytest

from streamer.source.budget import LATENCY_SAMPLES, RequestBudget

pytestmark = pytest.mark.anyio


async def test_rate_limit_spaces_requests() -> None:
    """At 50 requests/s, request i starts at least i intervals of 20 ms after the first."""
    budget = RequestBudget(50.0, 4)
    starts: list[float] = []
    with anyio.fail_after(10):
        for _ in range(11):
            async with budget:
                starts.append(anyio.current_time())
    # a token bucket with burst 1: request i starts no earlier than its slot, i intervals
    # after the first (one late wake-up may shorten the next gap, never the running total)
    for i, start in enumerate(starts):
        assert start - starts[0] >= i * 0.02 - 0.005


async def test_rate_is_shared_by_concurrent_callers() -> None:
    """Concurrent tasks draw from one bucket: 8 requests at 40/s take >= 7 intervals."""
    budget = RequestBudget(40.0, 8)
    starts: list[float] = []

    async def one() -> None:
        async with budget:
            starts.append(anyio.current_time())

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(one)
    starts.sort()
    assert starts[-1] - starts[0] >= 7 * 0.025 - 0.005


async def test_no_rate_means_no_wait() -> None:
    """Without a rate only the concurrency cap applies."""
    budget = RequestBudget(None, 2)
    with anyio.fail_after(5):
        for _ in range(100):
            async with budget:
                pass
    assert budget.rate is None


async def test_concurrency_cap_is_never_exceeded() -> None:
    """With a cap of 3, at most 3 requests are in flight, and 3 do run at once."""
    budget = RequestBudget(None, 3)
    peak = 0
    release = anyio.Event()

    async def one() -> None:
        nonlocal peak
        async with budget:
            peak = max(peak, budget.in_flight)
            await release.wait()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(one)
            while budget.in_flight < 3:  # noqa: ASYNC110 - polling a plain counter
                await anyio.sleep(0.001)
            await anyio.sleep(0.01)
            assert budget.in_flight == 3
            release.set()
    assert peak == 3
    assert budget.in_flight == 0


async def test_cancelled_waiter_gives_its_slot_back() -> None:
    """A caller cancelled while waiting for the rate does not leak a slot."""
    budget = RequestBudget(1.0, 1)
    async with budget:
        pass
    with anyio.move_on_after(0.05):
        async with budget:
            pytest.fail("the second request should still be waiting for the rate")
    assert budget.in_flight == 0
    budget.rate = None
    with anyio.fail_after(2):
        async with budget:
            pass


def test_back_off_halves_the_rate_down_to_a_floor() -> None:
    """Each 429/5xx halves the rate; it never drops below 0.1/s."""
    budget = RequestBudget(8.0, 4)
    budget.backed_off()
    assert budget.rate == 4.0
    budget.backed_off()
    assert budget.rate == 2.0
    for _ in range(20):
        budget.backed_off()
    assert budget.rate == 0.1


def test_recovers_additively_up_to_the_ceiling() -> None:
    """Successes add a tenth of the ceiling each, and stop at the ceiling."""
    budget = RequestBudget(10.0, 4)
    budget.backed_off()
    budget.backed_off()
    assert budget.rate == 2.5
    budget.succeeded()
    assert budget.rate == pytest.approx(3.5)
    for _ in range(20):
        budget.succeeded()
    assert budget.rate == 10.0


def test_latency_growth_counts_as_push_back() -> None:
    """A response far slower than the moving average halves the rate."""
    budget = RequestBudget(10.0, 4)
    for _ in range(LATENCY_SAMPLES + 1):
        budget.succeeded(0.05)
    assert budget.rate == 10.0
    budget.succeeded(1.0)
    assert budget.rate == 5.0
    budget.succeeded(0.05)
    assert budget.rate == 6.0


def test_latency_is_not_judged_before_enough_samples() -> None:
    """The first slow responses (cold connections) do not back off."""
    budget = RequestBudget(10.0, 4)
    budget.succeeded(0.01)
    budget.succeeded(2.0)
    assert budget.rate == 10.0


async def test_client_backs_off_on_429_and_recovers() -> None:
    """Through the real client: 429s from the simulator halve the rate, successes restore it."""
    from streamer.simulator import SimulatorOptions, start_simulator
    from streamer.source.client import LeadConduitClient

    options = SimulatorOptions(events=50, fail_first=2, faults=("429",), retry_after=0.0)
    budget = RequestBudget(100.0, 2)
    with anyio.fail_after(20):
        async with start_simulator(options) as sim:
            client = LeadConduitClient(sim.url, options.api_key, budget=budget, max_backoff=0.05)
            try:
                await client.events({"sort": "asc", "limit": 10, "after_id": "0" * 24})
                assert client.retries == 2
                assert budget.rate == pytest.approx(100.0 / 4 + 10.0)
                for _ in range(60):  # latency noise may cost a step; recovery still ends it
                    if budget.rate == 100.0:
                        break
                    await client.events({"sort": "asc", "limit": 10, "after_id": "0" * 24})
            finally:
                await client.aclose()
    assert budget.rate == 100.0
