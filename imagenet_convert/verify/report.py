"""What ``verify`` says: every problem found (the first ones word for word), and the summary."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Problems:
    """Problems found: the first ``limit`` kept word for word, the rest only counted (bounded memory)."""

    limit: int
    items: list[str] = field(default_factory=list)
    total: int = 0

    def add(self, where: str, what: str) -> None:
        self.total += 1
        if len(self.items) < self.limit:
            self.items.append(f"{where}: {what}")

    def extend(self, other: Problems) -> None:
        self.total += other.total
        self.items += other.items[: max(0, self.limit - len(self.items))]


def count(number: int, noun: str) -> str:
    """``1 record``, ``2 records``, ``3 classes``: summaries read as sentences."""
    plural = noun + ("es" if noun.endswith(("s", "x")) else "s")
    return f"{number} {noun if number == 1 else plural}"


@dataclass
class Report:
    """What ``verify`` prints: a summary and every problem found (the first ``limit`` in full)."""

    lines: list[str]
    problems: Problems

    @property
    def ok(self) -> bool:
        return self.problems.total == 0

    def text(self) -> str:
        lines = list(self.lines)
        if self.ok:
            lines.append("OK: every check passed")
        else:
            lines.append(f"FAILED: {count(self.problems.total, 'problem')}")
            lines += [f"  {item}" for item in self.problems.items]
            rest = self.problems.total - len(self.problems.items)
            if rest:
                lines.append(f"  ... and {rest} more (raise --max-problems to list them)")
        return "\n".join(lines)
