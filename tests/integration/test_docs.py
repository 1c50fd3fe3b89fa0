"""Every Python example in the README and docs/ runs as a user runs it.

Each ```` ```python ```` block of ``README.md`` and ``docs/*.md`` is saved
as a file of its own in an empty directory and run there as ``python
FILE.py`` in a new process, with warnings as errors. That is how a reader
who copies an example into a file meets it: its module is ``__main__``,
and worker processes started with spawn or forkserver import that file
again, so an example that starts workers needs its
``if __name__ == "__main__":`` guard, as it would in the reader's script.

A block that is not meant to run on its own (a fragment that continues the
block before it, a sketch with placeholders) is marked by the line right
above its opening fence::

    <!-- docs-test: not stand-alone -->

The marker is invisible where the Markdown is rendered. Keep it rare: an
example that cannot run is an example nobody has checked.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
MARKER = "<!-- docs-test: not stand-alone -->"


def examples() -> list[tuple[str, str, bool]]:
    """``(where, code, stand_alone)`` per python block, ``where`` as ``file.md:line``."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            found.append((f"{path.name}:{line}", match.group(1), before.strip() != MARKER))
    return found


EXAMPLES = examples()


def test_the_examples_are_found() -> None:
    assert len(EXAMPLES) >= 10
    assert sum(not stand_alone for _, _, stand_alone in EXAMPLES) <= 2


@pytest.mark.parametrize(
    ("where", "code", "stand_alone"), EXAMPLES, ids=[w for w, _, _ in EXAMPLES]
)
def test_example_runs_as_a_script(tmp_path: Path, where: str, code: str, stand_alone: bool) -> None:
    if not stand_alone:
        compile(code, where, "exec")  # it must still be Python
        return
    script = tmp_path / (re.sub(r"\W", "_", where) + ".py")
    script.write_text(code)
    proc = subprocess.run(
        [sys.executable, "-W", "error", script.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, f"{where} failed as a script:\n{proc.stderr[-4000:]}"
