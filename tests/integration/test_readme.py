"""Every command of the README's walk-through works as a newcomer types it: against a live server, on a fresh
database and on one the demo filled."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.servers import free_port

from omnihub.core.clock import SystemClock
from omnihub.core.db import Database
from omnihub.core.migrate import upgrade
from omnihub.demo import load_demo

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## A first session with the API"

pytestmark = pytest.mark.slow


def walkthrough_commands() -> list[str]:
    """The commands of the README's walk-through section: every line of its ```bash blocks, comments dropped."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(SECTION):]
    section = section[:section.find("\n## ", len(SECTION))]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(line)
    return commands


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """A fresh SQLite database (the demo's, when `request.param` says so) served by `omnihub serve`."""
    url = f"sqlite:///{tmp_path / 'omnihub.db'}"
    upgrade(url)
    if request.param == "after_demo":
        db = Database(url)
        load_demo(db, SystemClock())
        db.dispose()
    # A port the system hands out: two of these servers starting at once (the fresh and the demo one, on two test
    # workers) never both probe the same one free, where the loser's walk-through would talk to the other server.
    port = free_port()
    env = {**os.environ, "OMNIHUB_DATABASE_URL": url, "OMNIHUB_SECRET_KEY": "readme-test-secret-key",
           "PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "omnihub.cli", "serve", "--port", str(port)], env=env,
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else "server exited"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield env
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("server", ["fresh", "after_demo"], indirect=True)
def test_every_walkthrough_command_succeeds(server: dict[str, str]) -> None:
    commands = walkthrough_commands()
    assert len(commands) >= 10 and commands[0].startswith("KEY=")
    # One shell, as a reader types them: each command must exit 0 (curl --fail-with-body: no HTTP error).
    script = ["set -u -o pipefail"]
    for i, command in enumerate(commands):
        script += [f"echo '>>> {i}'", command, f"status=$?; [ $status -eq 0 ] || {{ echo 'README command failed "
                   f"(exit '$status'): '{shlex.quote(command)}; exit 1; }}"]
    run = subprocess.run(["bash", "-c", "\n".join(script)], env=server, cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    answers = {}
    for chunk in run.stdout.split(">>> ")[1:]:
        number, _, output = chunk.partition("\n")
        answers[int(number)] = output.strip()
    assert len(answers) == len(commands)
    by_command = {commands[i]: answers[i] for i in answers}

    def answer_to(fragment: str) -> dict | list:
        found = [out for command, out in by_command.items() if fragment in command and "curl" in command]
        assert found, fragment
        return json.loads(found[-1])

    assert answer_to("availability/TEE-ORG-M")["available"] == 10
    order = answer_to("-X POST $A/orders")
    assert (order["status"], order["totals"]["total"]) == ("collected", "19.90")
    level = answer_to('"$A/stock/popup-sol/TEE-ORG-M"')
    assert (level["on_hand"], level["reserved"]) == (9, 2)
    assert [o["id"] for o in answer_to("orders?channel=popup")["items"]] == [order["id"]]
