"""A recursive research agent: plan, execute, aggregate, several levels deep.

The "language model" is a deterministic stand-in (:class:`FakeLLM`) so the
example runs offline and always gives the same answer: it splits a question
into sub-questions, answers leaves after a short delay, and fails the first
call for some prompts to show retries.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from typing import Any

from taskbeam.graph import Expansion, Graph, expand

__all__ = ["FakeLLM", "research_graph"]


class FakeLLM:
    """A deterministic, offline stand-in for a language model client."""

    def __init__(self, delay: float = 0.05, flaky_every: int = 7) -> None:
        self.delay = delay
        self.flaky_every = flaky_every
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def _digest(self, prompt: str) -> int:
        return int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16)

    async def complete(self, prompt: str) -> str:
        await asyncio.sleep(self.delay * (1 + self._digest(prompt) % 3) / 2)
        with self._lock:
            first = prompt not in self._seen
            self._seen.add(prompt)
        if first and self.flaky_every and self._digest(prompt) % self.flaky_every == 0:
            raise ConnectionError(f"rate limited on {prompt[:40]!r} (retry will pass)")
        return f"answer({prompt})"

    def split(self, question: str, breadth: int) -> list[str]:
        return [f"{question}.{i + 1}" for i in range(breadth)]


def research_graph(
    topic: str = "q",
    *,
    depth: int = 3,
    breadth: int = 3,
    llm: FakeLLM | None = None,
    name: str = "research",
) -> Graph:
    """A graph whose root plans ``breadth`` sub-questions per level, ``depth`` levels deep.

    Each planner returns ``expand(sub-graph, aggregate=...)``; leaves call the
    model; aggregators join the answers. The final report is the result of
    ``report``.
    """
    model = llm or FakeLLM()

    def plan(question: str, level: int) -> Expansion:
        sub = Graph(f"plan {question}")
        for i, q in enumerate(model.split(question, breadth)):
            key = f"q{i + 1}"
            if level + 1 < depth:
                sub.add(key, plan, kwargs={"question": q, "level": level + 1}, tags=["plan"])
            else:
                sub.add(key, answer, kwargs={"question": q}, retries=2, backoff=0.05, tags=["llm"])
        return expand(sub, aggregate=lambda results: join(question, results))

    async def answer(question: str) -> str:
        return await model.complete(question)

    def join(question: str, results: dict[str, Any]) -> str:
        parts = "; ".join(str(results[k]) for k in sorted(results))
        return f"[{question}: {parts}]"

    def report(root: str) -> str:
        return f"report on {topic}: {len(root)} characters"

    g = Graph(name)
    g.add("root", plan, kwargs={"question": topic, "level": 0}, tags=["plan"])
    g.add("report", report, deps=["root"])
    return g
