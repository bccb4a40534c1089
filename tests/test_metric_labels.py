"""`hotfix_commands_total` labels come from a closed set, whatever people type or send."""

from __future__ import annotations

import re
import urllib.request

import pytest

from tests.harness.running_bot import RunningBot

pytestmark = pytest.mark.e2e


def command_series(bot: RunningBot) -> list[str]:
    url = f"http://127.0.0.1:{bot.server.port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return [line for line in text.splitlines() if line.startswith("hotfix_commands_total{")]


def test_unknown_commands_and_clicks_count_under_one_label(bot: RunningBot) -> None:
    for i in range(150):
        assert bot.driver.slash(f"zzcmd{i} --x").status == 200
        assert bot.driver.slash(f"incident zzsub{i}").status == 200
    for i in range(10):
        assert bot.driver.block_action(f"hotfix_zzclick{i}", value="x").status == 200
    bot.driver.slash("help")
    bot.settle()
    series = command_series(bot)
    assert not [s for s in series if "zz" in s], "typed text became a label"
    unknown = next(s for s in series if 'action="command:unknown"' in s)
    assert float(unknown.rsplit(" ", 1)[1]) >= 300
    assert any('action="click:unknown"' in s for s in series)
    assert any(
        re.match(r'hotfix_commands_total\{action="command:help",outcome="ok"\}', s) for s in series
    )
    # The audit log still says what was typed.
    assert any(row["action"] == "command:zzcmd7" for row in bot.audit())
