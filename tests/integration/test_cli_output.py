"""What the taskbeam command prints: user text as written, every status, help, one node."""

from __future__ import annotations

import argparse
import re
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from tests.integration.test_cli import taskbeam

from taskbeam._cli import STATUS_STYLE, _parser
from taskbeam.engine import RunStatus, Status
from taskbeam.store import RunRecord, SQLiteStore

MARKUP = textwrap.dedent(
    """
    import taskbeam as tb

    def boom():
        print("[green]printed[/green] by the task")
        raise ValueError("[bold red]boom[/] in [link=x]here[/link]")

    def make():
        g = tb.Graph("[red]name[/red]")
        g.add("[bold]a", lambda: "[why is the sky blue.1.1: answer(q); more]")
        g.add("plain", lambda: ["[x]", "[/]"])
        g.add("bad", boom)
        return g
    """
)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return taskbeam(*args, cwd=cwd, columns=200)


def test_user_text_that_looks_like_markup_prints_as_written(tmp_path: Path) -> None:
    (tmp_path / "marked.py").write_text(MARKUP)
    proc = cli("run", "marked:make", "--store", "runs.db", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "Traceback" not in proc.stderr
    assert "[red]name[/red]" in out  # the run's name, in the title and the bar
    assert "[bold]a " in out
    assert "'[why is the sky blue.1.1: answer(q); more]'" in out
    assert "['[x]', '[/]']" in out
    assert "ValueError: [bold red]boom[/] in [link=x]here[/link]" in out
    run_id = re.search(r"as (\S+)\s*$", out).group(1)  # type: ignore[union-attr]
    listed = cli("runs", "--store", "runs.db", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "[red]name[/red]" in listed.stdout
    shown = cli("show", run_id, "--store", "runs.db", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    for text in ("[bold]a ", "[why is the sky blue.1.1: answer(q); more]", "[bold red]boom[/]"):
        assert text in shown.stdout
    node = cli("show", run_id, "--node", "bad", "--store", "runs.db", cwd=tmp_path)
    assert node.returncode == 0, node.stderr
    assert "ValueError: [bold red]boom[/] in [link=x]here[/link]" in node.stdout
    assert "[green]printed[/green] by the task" in node.stdout
    assert "Traceback (most recent call last)" in node.stdout
    assert 'raise ValueError("[bold red]boom[/] in [link=x]here[/link]")' in node.stdout


def test_the_demo_shows_its_results_as_written(tmp_path: Path) -> None:
    proc = cli("demo", "--all", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "'[why is the sky blue.1: [why is the sky blue.1.1: answer(" in proc.stdout
    assert "'[why is the sky blue.1.1: answer(why is the sky blue.1.1" in proc.stdout
    assert "'[why is the sky blue.1: ]'" not in proc.stdout


def test_every_status_has_a_style() -> None:
    for status in [*Status, *RunStatus]:
        assert STATUS_STYLE[status.value]
    assert STATUS_STYLE["interrupted"]


def _every_status_store(path: Path) -> list[str]:
    """A store with one run per run status (and 'interrupted', and an unknown one),
    each holding a node in every node status."""
    statuses = [s.value for s in Status]
    batch = {
        "t0": 0.0,
        "id": [f"n-{s}" for s in statuses],
        "status": statuses,
        "attempt": [1] * len(statuses),
        "started": [0.1] * len(statuses),
        "ended": [0.2 if Status(s) in {Status.DONE, Status.FAILED} else None for s in statuses],
        "preview": ["'ok'" if s == "done" else None for s in statuses],
        "format": ["json" if s == "done" else None for s in statuses],
        "result": ["ok" if s == "done" else None for s in statuses],
        "fingerprint": [None] * len(statuses),
        "error": {"n-failed": ["KeyError", "'k'", "Traceback …"]},
        "output": {},
    }
    structure = [(f"n-{s}", [], []) for s in statuses]
    ids = []
    with SQLiteStore(path) as store:
        for status in [*(s.value for s in RunStatus), "interrupted", "from-the-future"]:
            record = RunRecord(
                id=f"r-{status}",
                name=f"g-{status}",
                status=status,
                options={},
                created=time.time(),
                counts={s: 1 for s in statuses},
                total=len(statuses),
            )
            store.create_run(record, structure).result(10)
            store.save(record, dict(batch), log={}).result(10)
            ids.append(record.id)
    return ids


def test_runs_and_show_print_every_run_and_node_status(tmp_path: Path) -> None:
    ids = _every_status_store(tmp_path / "runs.db")
    listed = cli("runs", "--store", "runs.db", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    for run_id in ids:
        assert run_id in listed.stdout
    for run_id in ids:
        shown = cli("show", run_id, "--store", "runs.db", "--all", cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        status = run_id.removeprefix("r-")
        assert f"run {status} ·" in shown.stdout
        for s in Status:
            assert re.search(rf"│ n-{s.value}\s+│ {s.value}\s", shown.stdout), s


def _actions(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _actions(sub, f"{path} {name}")
            for choice in action._choices_actions:
                found.append((f"{path} {choice.dest}", choice))
        else:
            found.append((path, action))
    return found


def test_every_option_of_every_command_has_plain_help() -> None:
    actions = _actions(_parser(), "taskbeam")
    assert len(actions) > 40
    for where, action in actions:
        name = "/".join(action.option_strings) or action.dest
        assert action.help, f"{where} {name} has no help"
        assert "``" not in action.help and not re.search(r":\w+:`", action.help), (where, name)


def test_help_is_plain_text_and_lists_the_exit_codes(tmp_path: Path) -> None:
    for args in ([], ["run"], ["show"], ["runs"], ["demo"], ["serve"], ["lab"], ["import"]):
        proc = cli(*args, "--help", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "``" not in proc.stdout and not re.search(r":\w+:`", proc.stdout), args
    top = cli("--help", cwd=tmp_path).stdout
    for code in ("0", "1", "2", "3", "4", "5", "130"):
        assert re.search(rf"^  {code}\s+\w", top, re.M), code


def test_version(tmp_path: Path) -> None:
    from taskbeam import __version__

    proc = cli("--version", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"taskbeam {__version__}"


@pytest.mark.parametrize("node", ["pending-one", "nope"])
def test_show_node_of_a_node_never_run_or_unknown(tmp_path: Path, node: str) -> None:
    with SQLiteStore(tmp_path / "runs.db") as store:
        record = RunRecord(id="r1", name="g", status="running", options={}, created=time.time())
        store.create_run(record, [("pending-one", [], [])]).result(10)
    proc = cli("show", "r1", "--node", node, "--store", "runs.db", cwd=tmp_path)
    if node == "nope":
        assert proc.returncode == 4
        assert proc.stderr.strip() == "taskbeam: run 'r1' has no node 'nope'"
    else:
        assert proc.returncode == 0, proc.stderr
        assert "status: pending" in proc.stdout
