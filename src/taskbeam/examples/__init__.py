"""Example graphs shipped with taskbeam, used by the demo, notebooks and docs."""

from taskbeam.examples._research import FakeLLM, research_graph

__all__ = ["FakeLLM", "research_graph"]
