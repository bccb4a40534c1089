"""Loading hotfix.yml: every wrong field is named with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import EXAMPLE_CONFIG, ConfigError, load_config, resolve_config_path
from services.settings import DEFAULT_PLAYBOOK
from tests.harness.cli import run_cli

from .conftest import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotfix.yml"
    path.write_text(text)
    return path


def test_the_shipped_example_is_valid_and_resolves_paths_next_to_it() -> None:
    loaded = load_config(EXAMPLE_CONFIG)
    assert loaded.settings.slack.command == "/hotfix"
    assert loaded.settings.store.path == REPO_ROOT / "data" / "hotfix.db"


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = write(tmp_path, "store:\n  path: db/bot.db\ntemplates_dir: mine\n")
    settings = load_config(path).settings
    assert settings.store.path == tmp_path / "db" / "bot.db"
    assert settings.templates_dir == tmp_path / "mine"


def test_unknown_key_is_named_with_line_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "store:\n  path: x.db\nslack:\n  mode: socket\n  comand: /hotfix\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    report = raised.value.report()
    assert f"{path}:5: slack.comand: unknown key (did you mean 'command'?)" in report


def test_wrong_type_and_wrong_choice_are_each_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "workers: many\nslack:\n  mode: sockets\ntimezone: Mars/Olympus\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    problems = {p.field: p for p in raised.value.problems}
    assert problems["workers"].line == 1
    assert "valid integer" in problems["workers"].message
    assert problems["slack.mode"].line == 3
    assert "'socket' or 'http'" in problems["slack.mode"].message
    assert "got 'sockets'" in problems["slack.mode"].message
    assert problems["timezone"].line == 4
    assert "unknown time zone" in problems["timezone"].message


def test_each_problem_of_a_deploy_environment_is_named_at_its_own_line(tmp_path: Path) -> None:
    """The backend sections are each backend's own models, found through the registry: a
    typo in a backend's name, a section's name or a key inside it is named where it is,
    with what was meant, and one section's problems do not hide the environment's others."""
    path = write(
        tmp_path,
        """services:
  payments:
    environments:
      prod:
        backend: comand
        command:
          deploy: ["./deploy.sh", "{version}"]
      staging:
        backend: kubernetes
        kubernets:
          namespace: payments
      qa:
        backend: kubernetes
        approvals: lots
        kubernetes:
          namespce: payments
          deployment: payments
          image: registry.example.com/payments
""",
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    problems = {(p.line, p.field): p.message for p in raised.value.problems}
    env = "services.payments.environments"
    assert problems[(5, f"{env}.prod.backend")].startswith(
        "unknown backend 'comand' (did you mean 'command'?): the backends are command,"
    )
    assert problems[(10, f"{env}.staging.kubernets")] == (
        "unknown key (did you mean 'kubernetes'?)"
    )
    assert "valid integer" in problems[(14, f"{env}.qa.approvals")]
    assert problems[(16, f"{env}.qa.kubernetes.namespce")] == (
        "unknown key (did you mean 'namespace'?)"
    )
    assert len(problems) == 5  # and the namespace it then lacks
    assert not any("backend_sections" in message for message in problems.values())


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "store:\n  path: [unclosed\nworkers: 2\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert raised.value.problems[0].line is not None
    assert "not valid YAML" in raised.value.report()


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(write(tmp_path, "- just\n- a list\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "nope.yml")


def test_config_path_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HOTFIX_CONFIG", raising=False)
    assert resolve_config_path(None) == (EXAMPLE_CONFIG, True)
    (tmp_path / "hotfix.yml").write_text("{}\n")
    assert resolve_config_path(None) == (Path("hotfix.yml"), False)
    monkeypatch.setenv("HOTFIX_CONFIG", "/etc/hotfix/bot.yml")
    assert resolve_config_path(None) == (Path("/etc/hotfix/bot.yml"), False)
    assert resolve_config_path("other.yml") == (Path("other.yml"), False)


def test_check_config_exits_2_naming_field_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "slack:\n  http_port: 99999\n")
    result = run_cli("--config", str(path), "check-config", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        f"{path}:2: slack.http_port: Input should be less than or equal to 65535" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_serve_with_a_broken_config_stops_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "wrokers: 2\n")
    result = run_cli("--config", str(path), "serve", cwd=tmp_path)
    assert result.returncode == 2
    assert "wrokers: unknown key (did you mean 'workers'?)" in result.stderr


def test_check_config_reports_a_valid_file(tmp_path: Path) -> None:
    path = write(tmp_path, "store:\n  path: bot.db\n")
    result = run_cli("--config", str(path), "check-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{path}: valid" in result.stdout
    assert "SLACK_BOT_TOKEN: not set" in result.stdout
    assert "templates: OK" in result.stdout


def test_a_partial_severity_override_merges_with_the_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "incidents:\n  severities:\n    sev1: {update_every_minutes: 5}\n"
        "    sev3:\n      responders: [U0BOB]\n",
    )
    severities = load_config(path).settings.incidents.severities
    assert severities["sev1"].update_every_minutes == 5
    assert severities["sev1"].escalate is True  # sev1's default, not an error
    assert severities["sev1"].playbook == list(DEFAULT_PLAYBOOK)
    assert (severities["sev3"].update_every_minutes, severities["sev3"].escalate) == (60, False)
    assert severities["sev3"].responders == ["U0BOB"]
    assert severities["sev0"].update_every_minutes == 10


def test_a_wrong_value_in_a_partial_severity_override_names_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "incidents:\n  severities:\n    sev2:\n      escalate: true\n      update_every_minutes: 0\n",
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    (problem,) = raised.value.problems
    assert (problem.line, problem.field) == (5, "incidents.severities.sev2.update_every_minutes")
