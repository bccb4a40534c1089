"""The Dockerfile, checked without a Docker engine (these machines have none).

What can go wrong with it without building it: the final stage runs as root,
carries build tools, or leaves out a file the bot needs at run time. The last
is checked for real: exactly the paths the final stage copies are laid out as
in the image (/app on PYTHONPATH, the entry point `python -m bot`), and the
bot is run from there: it loads its example configuration, renders every
template and answers a command in the console mode.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
BUILD_TOOLS = ("gcc", "g++", "make", "build-essential", "python3-dev", "pip wheel")


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile as stages of (instruction, arguments), continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    result: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            result.append([])
        result[-1].append((instruction.upper(), arguments.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    return stages()[-1]


def test_the_final_stage_runs_as_a_numeric_non_root_user_with_no_build_tools() -> None:
    assert len(stages()) >= 2, "a build stage keeps compilers out of the final image"
    final = final_stage()
    users = [arguments for instruction, arguments in final if instruction == "USER"]
    assert users and users[-1].isdigit() and users[-1] != "0"
    runs = " ".join(arguments for instruction, arguments in final if instruction == "RUN")
    assert not [tool for tool in BUILD_TOOLS if tool in runs], runs
    assert "--no-install-recommends" in runs and "rm -rf /var/lib/apt/lists/*" in runs


def test_the_files_the_final_stage_copies_are_enough_to_run_the_bot(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    final = final_stage()
    for instruction, arguments in final:
        if instruction != "COPY" or arguments.startswith("--from"):
            continue
        *sources, destination = shlex.split(arguments)
        for source in sources:
            origin = REPO / source
            target = app / (source if destination in ("./", ".") else destination)
            if origin.is_dir():
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(origin, target)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HOTFIX_"))}
    env.update(dict(e.split("=", 1) for e in _env_pairs(final)))
    env["PYTHONPATH"] = str(app)  # ahead of the editable install of this checkout
    env["HOTFIX_CONFIG"] = str(app / "hotfix.example.yml")
    env["HOME"] = str(tmp_path)

    def bot(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            cwd=app,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    imported = subprocess.run(
        [sys.executable, "-c", "import bot, handlers, services; print(services.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert imported.stdout.startswith(str(app)), imported  # the image's copy, not this checkout
    checked = bot("check-config")
    assert checked.returncode == 0, checked.stderr
    assert "templates: OK" in checked.stdout
    console = bot("console", "--user", "oncall", stdin="help\nquit\n")
    assert console.returncode == 0, console.stderr
    assert "hotfix-bot commands" in console.stdout


def _env_pairs(stage: list[tuple[str, str]]) -> list[str]:
    pairs: list[str] = []
    for instruction, arguments in stage:
        if instruction == "ENV":
            pairs += [p for p in shlex.split(arguments) if "=" in p]
    return [p for p in pairs if not p.startswith(("PYTHONPATH=", "HOTFIX_CONFIG="))]
