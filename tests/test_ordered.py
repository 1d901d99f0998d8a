"""ordered.in_order: Executor.map's order with a bounded number of tasks submitted ahead."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from imagenet_convert.inputs.ordered import in_order


def test_results_come_in_the_tasks_order_whatever_finishes_first():
    def slow_for_small(n: int) -> int:
        time.sleep(0.01 * (5 - n % 5))
        return n * n

    with ThreadPoolExecutor(4) as pool:
        assert list(in_order(pool, slow_for_small, range(20), ahead=6)) == [n * n for n in range(20)]


def test_no_more_than_ahead_tasks_are_taken_before_the_first_result():
    taken: list[int] = []

    def tasks():
        for n in range(100):
            taken.append(n)
            yield n

    with ThreadPoolExecutor(2) as pool:
        results = in_order(pool, lambda n: n, tasks(), ahead=3)
        assert next(results) == 0
        assert len(taken) == 4  # the first and three ahead
        assert list(results) == list(range(1, 100))


def test_errors_reach_the_caller_at_their_task():
    def fail_at_three(n: int) -> int:
        if n == 3:
            raise ValueError("three")
        return n

    with ThreadPoolExecutor(2) as pool:
        results = in_order(pool, fail_at_three, range(10), ahead=4)
        assert [next(results) for _ in range(3)] == [0, 1, 2]
        with pytest.raises(ValueError, match="three"):
            next(results)
