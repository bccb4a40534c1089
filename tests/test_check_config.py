"""`check-config` finds what would fail at 3 a.m., with file:line, before anyone deploys.

Real files: a real git work tree and a bare repository, real scripts (one not
executable), a PATH the children will search, and the CLI run as a subprocess.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.config import check_config_file, load_config
from services.children import child_environment
from services.deploy.process import run
from tests.harness.cli import run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOSTILE = "\u202eevil\n<!channel>" + "x" * 10_000


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the (only) line containing `needle`."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) == 1, f"{needle!r} on lines {found}"
    return found[0]


def script(path: Path, *, executable: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho ok\n")
    mode = path.stat().st_mode
    path.chmod(mode | stat.S_IXUSR if executable else mode & ~0o111)
    return path


def git_init(path: Path, *, bare: bool = False) -> Path:
    args = ["git", "init", "--quiet", *(["--bare"] if bare else []), str(path)]
    subprocess.run(args, check=True, capture_output=True)
    return path


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """A team's directory: a work tree, a bare repository, scripts, a bin directory on PATH."""
    git_init(tmp_path / "payments")
    git_init(tmp_path / "ledger.git", bare=True)
    script(tmp_path / "deploy" / "deploy.sh")
    script(tmp_path / "deploy" / "rollback.sh", executable=False)
    script(tmp_path / "bin" / "smoke-test")
    (tmp_path / "deploy" / "not-a-program").mkdir()
    return tmp_path


CONFIG = """\
store:
  path: bot.db
services:
  payments:
    git:
      repository: {payments}
    environments:
      production:
        backend: command
        command:
          workdir: {deploy_dir}
          deploy: ["./deploy.sh", "{{version}}"]
          rollback: ["./rollback.sh", "{{version}}"]
          status: ["./missing-status.sh"]
        checks:
          - {{name: smoke, argv: ["smoke-test", "{{version}}"]}}
          - {{name: lint, argv: ["no-such-linter"]}}
        backup: ["{deploy_dir}/not-a-program"]
        health_checks:
          - {{url: "https://payments.example.com/healthz"}}
  ledger:
    git:
      repository: {ledger}
  billing:
    git:
      repository: {missing_repo}
  search:
    git:
      repository: git@github.com:example/search.git
  mail:
    git:
      repository: "ssh://:22/example/mail.git"
"""


def team_config(world: Path) -> tuple[Path, str]:
    text = CONFIG.format(
        payments=world / "payments",
        deploy_dir=world / "deploy",
        ledger=world / "ledger.git",
        missing_repo=world / "billing",
    )
    path = world / "hotfix.yml"
    path.write_text(text)
    return path, text


def path_with(world: Path) -> dict[str, str]:
    return {"PATH": f"{world / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}


def run_in(world: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=world, stdin="quit\n", extra_env=path_with(world))


def test_check_config_reports_every_missing_path_and_program_with_its_line(world: Path) -> None:
    path, text = team_config(world)
    result = run_in(world, "--config", str(path), "check-config")
    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stderr
    assert "Traceback" not in out

    def reported(needle: str, field: str, *words: str) -> None:
        prefix = f"{path}:{line_of(text, needle)}: {field}: "
        lines = [line for line in out.splitlines() if prefix in line]
        assert lines, f"nothing reported at {prefix!r} in:\n{out}"
        for word in words:
            assert word in lines[0], lines[0]

    prod = "services.payments.environments.production"
    reported(
        "repository: " + str(world / "billing"),
        "services.billing.git.repository",
        str(world / "billing"),
        "does not exist",
    )
    reported(
        '"ssh://:22/',
        "services.mail.git.repository",
        "no host",
    )
    reported('"./rollback.sh"', f"{prod}.command.rollback", "not executable")
    reported('"./missing-status.sh"', f"{prod}.command.status", "does not exist")
    reported("no-such-linter", f"{prod}.checks.1.argv", "'no-such-linter' is not on PATH", "bin")
    reported("backup:", f"{prod}.backup", "is a directory")
    # Nothing else: the work tree, the bare repository, deploy.sh in the workdir,
    # smoke-test found on PATH and a remote address (syntax only, never fetched) are fine.
    assert f"{path}: 6 problems in the configuration" in out


def test_a_health_check_url_that_does_not_parse_stops_the_bot_with_its_line(
    world: Path,
) -> None:
    path = world / "hotfix.yml"
    text = (
        "store:\n  path: bot.db\nservices:\n  payments:\n    environments:\n      prod:\n"
        '        backend: command\n        command: {deploy: ["true"]}\n'
        "        health_checks:\n"
        '          - {url: "https://payments.example.com:80x/healthz"}\n'
        '          - {url: "http://[::1/healthz"}\n'
        "        analysis: {prometheus_url: 'http:///api'}\n"
    )
    path.write_text(text)
    for command in ("check-config", "serve"):
        result = run_in(world, "--config", str(path), command)
        assert result.returncode == 2, result.stdout + result.stderr
        field = "services.payments.environments.prod"
        assert f"{path}:10: {field}.health_checks.0.url: " in result.stderr
        assert "port could not be cast to integer" in result.stderr.lower()
        assert f"{path}:11: {field}.health_checks.1.url: " in result.stderr
        assert f"{path}:12: {field}.analysis.prometheus_url: " in result.stderr
        assert "3 problems" in result.stderr


def test_validation_errors_and_missing_programs_are_reported_together(world: Path) -> None:
    path = world / "hotfix.yml"
    text = (
        "store:\n  path: bot.db\nworkers: many\nservices:\n  payments:\n    environments:\n"
        "      prod:\n        backend: command\n        command: {deploy: [./gone.sh]}\n"
        '        health_checks: [{url: "https://x.example.com:port/"}]\n'
    )
    path.write_text(text)
    problems = check_config_file(path)[1]
    where = {(p.line, p.field) for p in problems}
    assert (3, "workers") in where
    assert (10, "services.payments.environments.prod.health_checks.0.url") in where
    assert (9, "services.payments.environments.prod.command.deploy") in where


def test_the_bot_starts_with_a_warning_naming_each_problem(world: Path) -> None:
    # The incident side (declare, war rooms, reminders) needs none of these: the bot
    # starts, says what will fail, and a deploy refuses at the time with the same words.
    path, text = team_config(world)
    result = run_in(world, "--config", str(path), "serve")
    assert result.returncode == 0, result.stderr
    line = line_of(text, '"./rollback.sh"')
    assert (
        f"{path}:{line}: services.payments.environments.production.command.rollback:"
        in result.stderr
    )
    assert "hotfix-bot check-config" in result.stderr


def test_a_program_is_looked_up_on_the_path_the_child_gets(world: Path) -> None:
    # env.set PATH replaces the bot's PATH for this environment's commands: smoke-test
    # in world/bin is no longer found although the bot's own PATH has it.
    path = world / "hotfix.yml"
    path.write_text(
        "store:\n  path: bot.db\nservices:\n  payments:\n    environments:\n      prod:\n"
        "        backend: command\n        command: {deploy: [smoke-test]}\n"
        "        env: {set: {PATH: /nonexistent}}\n"
    )
    result = run_in(world, "--config", str(path), "check-config")
    assert result.returncode == 2
    assert f"{path}:8: services.payments.environments.prod.command.deploy:" in result.stderr
    assert "/nonexistent" in result.stderr


def test_hostile_values_are_reported_once_on_their_line(world: Path) -> None:
    path = world / "hotfix.yml"
    env = {"backend": "command", "command": {"deploy": [HOSTILE]}}
    text = "store:\n  path: bot.db\n" + yaml.safe_dump(
        {"services": {"payments": {"environments": {"prod": env}}}}, width=1_000_000
    )
    path.write_text(text)
    problems = check_config_file(path)[1]
    assert len(problems) == 1
    assert problems[0].line == line_of(text, "deploy:")
    assert "is not on PATH" in problems[0].message


def test_a_valid_team_config_loads_without_checking_the_disk(world: Path) -> None:
    # load_config stays a pure validation: checking the disk is check-config's (and start's).
    path, _ = team_config(world)
    loaded = load_config(path)
    assert "billing" in loaded.settings.services


def test_a_deploy_that_cannot_start_its_program_says_why_in_the_same_words(world: Path) -> None:
    # What check-config warned about is what the deployment's step reports, if run anyway.
    result = run(["./gone.sh", "v1"], timeout=10, env=child_environment(), cwd=str(world))
    assert result.returncode == 127
    assert result.output == (
        f"cannot run ./gone.sh: {world / 'gone.sh'} does not exist (relative to {world})"
    )
    result = run(["rollback.sh"], timeout=10, env={"PATH": str(world / "deploy")})
    assert (
        result.output
        == f"cannot run rollback.sh: {world / 'deploy' / 'rollback.sh'} is not executable (chmod +x it)"
    )


def test_a_kubeconfig_that_is_not_there_is_named(world: Path) -> None:
    (world / "kc").write_text("apiVersion: v1\nkind: Config\n")
    path = world / "hotfix.yml"
    path.write_text(
        "store:\n  path: bot.db\nservices:\n  payments:\n    environments:\n      prod:\n"
        "        backend: kubernetes\n        kubernetes:\n"
        f"          kubeconfig: {world / 'kc'}{os.pathsep}{world / 'gone'}\n"
        "          namespace: payments\n          deployment: payments\n          image: r/p\n"
    )
    (problem,) = check_config_file(path)[1]
    assert (problem.line, problem.field) == (
        9,
        "services.payments.environments.prod.kubernetes.kubeconfig",
    )
    assert problem.message == f"{world / 'gone'} is not an existing file"


def test_an_argo_rollouts_kubeconfig_that_is_not_there_is_named_the_same_way(world: Path) -> None:
    path = world / "hotfix.yml"
    path.write_text(
        "store:\n  path: bot.db\nservices:\n  payments:\n    environments:\n      prod:\n"
        "        backend: argo_rollouts\n        strategy: canary\n        argo_rollouts:\n"
        f"          kubeconfig: {world / 'gone'}\n"
        "          namespace: payments\n          rollout: payments\n          image: r/p\n"
    )
    (problem,) = check_config_file(path)[1]
    assert (problem.line, problem.field) == (
        10,
        "services.payments.environments.prod.argo_rollouts.kubeconfig",
    )
    assert problem.message == f"{world / 'gone'} is not an existing file"


def test_check_config_names_what_paging_and_email_would_lack_with_their_lines(
    tmp_path: Path,
) -> None:
    config = tmp_path / "hotfix.yml"
    text = (
        "services:\n"
        "  payments: {}\n"
        "paging:\n"
        "  pagerduty:\n"
        "    routing_key_env: PD_DEFAULT_KEY\n"
        "    service_routing_key_env: {payments: PD_PAYMENTS_KEY}\n"
        "email:\n"
        "  smtp_host: relay.example.com\n"
        "  smtp_port: 465\n"
        "  starttls: false\n"
        "  from: bot@example.com\n"
        f"  ca_file: {tmp_path / 'missing-ca.pem'}\n"
    )
    config.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PD_", "SMTP_"))}
    env["SMTP_USERNAME"] = "hotfix-bot"
    result = run_cli("--config", str(config), "check-config", cwd=tmp_path, extra_env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert f"hotfix.yml:{line_of(text, 'routing_key_env: PD_DEFAULT_KEY')}" in out
    assert "PD_DEFAULT_KEY is not set" in out
    assert "PD_PAYMENTS_KEY is not set: paging payments would fail" in out
    assert "SMTP_USERNAME is set but SMTP_PASSWORD is not" in out
    assert f"hotfix.yml:{line_of(text, 'smtp_port: 465')}" in out and "port 465" in out
    assert "missing-ca.pem is not a file" in out


def test_a_login_without_starttls_is_refused_as_a_password_in_clear(tmp_path: Path) -> None:
    config = tmp_path / "hotfix.yml"
    text = "email:\n  smtp_host: relay.example.com\n  starttls: false\n  from: bot@example.com\n"
    config.write_text(text)
    env = {"SMTP_USERNAME": "hotfix-bot", "SMTP_PASSWORD": "s3cret-pw-123"}
    result = run_cli("--config", str(config), "check-config", cwd=tmp_path, extra_env=env)
    out = result.stdout + result.stderr
    assert f"hotfix.yml:{line_of(text, 'starttls: false')}" in out
    assert "in clear" in out
    assert "s3cret-pw-123" not in out


PIPELINE_CONFIG = """\
store:
  path: bot.db
services:
  payments:
    migrations:
      check: ["./db/migrate.sh", "check"]
      down: ["no-such-migrator", "down"]
    environments:
      staging:
        backend: command
        command:
          deploy: ["{deploy_dir}/deploy.sh", "{{version}}"]
        health_checks: [{{url: "http://127.0.0.1:8080/healthz"}}]
        suites:
          critical-path: [["smoke-test", "{{version}}"], ["./missing-suite.sh"]]
        smoke: ["./missing-smoke.sh"]
        after_deploy:
          - {{name: purge, argv: ["{deploy_dir}/not-a-program"]}}
        after_rollback: [["smoke-test"]]
      production:
        backend: command
        command:
          deploy: ["{deploy_dir}/deploy.sh", "{{version}}"]
        requires: [staging]
"""


def test_the_pipeline_commands_are_checked_where_they_are_written(world: Path) -> None:
    """Suites, smoke tests, hooks and migrations are started the same way: each one that
    could not start is named at its line, a migration once for all its environments."""
    text = PIPELINE_CONFIG.format(deploy_dir=world / "deploy")
    path = world / "hotfix.yml"
    path.write_text(text)
    result = run_in(world, "--config", str(path), "check-config")
    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stderr
    staging = "services.payments.environments.staging"
    expected = {
        "./db/migrate.sh": "services.payments.migrations.check",
        "no-such-migrator": "services.payments.migrations.down",
        "./missing-suite.sh": f"{staging}.suites.critical-path.1",
        "./missing-smoke.sh": f"{staging}.smoke",
        "not-a-program": f"{staging}.after_deploy.0.argv",
    }
    for needle, field in expected.items():
        prefix = f"{path}:{line_of(text, needle)}: {field}"
        assert prefix in out, f"{prefix!r} not in:\n{out}"
    assert out.count("no-such-migrator") == 1
    assert f"{path}: 5 problems in the configuration" in out
