"""Work done in a pool, results taken in order, a bounded number of tasks ahead.

``Executor.map`` submits every task at once (its ``buffersize`` arrives in Python 3.14): for the
1,000 class tars of the train archive or half a million XML files, that holds every result in
memory before the caller takes the first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import TypeVar

Task = TypeVar("Task")
Result = TypeVar("Result")


def in_order(
    pool: Executor, work: Callable[[Task], Result], tasks: Iterable[Task], ahead: int
) -> Iterator[Result]:
    """``work(task)`` for each task, yielded in the tasks' order, at most ``ahead`` submitted early."""
    pending: deque[Future[Result]] = deque()
    for task in tasks:
        pending.append(pool.submit(work, task))
        if len(pending) > ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
