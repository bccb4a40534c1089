"""What would fail at 3 a.m.: the paths and programs the configuration names, checked now.

The settings models say what a valid file is; they cannot say whether
`./deploy.sh` exists on this machine or whether a repository path points at a
clone. These checks look, the way the bot will use each one at run time (a
child's argv[0] on the child's PATH, from its working directory; a local
repository path used in place), and name each problem by its settings path so
`bot.config` can give its file and line. Remote repository addresses are only
read, never fetched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from services.comms.checks import comms_findings
from services.deploy import registry
from services.deploy.process import environment_for, start_problem
from services.deploy.settings import EnvironmentSettings, MigrationSettings
from services.git.working_copy import GitRepository
from services.settings import Settings

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Finding:
    loc: Loc  # where in the settings, e.g. ("services", "payments", "git", "repository")
    message: str


def preflight(settings: Settings, *, cwd: Path | None = None) -> list[Finding]:
    """Every problem found, in the order of the settings (all of them, not the first)."""
    base = cwd or Path.cwd()
    findings: list[Finding] = []
    if settings.lock.kind == "lease":
        findings += [
            Finding(("lock", "lease", "kubeconfig"), f"{path} is not an existing file")
            for path in settings.lock.lease.missing_kubeconfig_files(base)
        ]
    for name, service in settings.services.items():
        if service.git is not None:
            problem = repository_problem(service.git.repository, cwd=base)
            if problem:
                findings.append(Finding(("services", name, "git", "repository"), problem))
        for env_name, env in service.environments.items():
            at: Loc = ("services", name, "environments", env_name)
            values = {"service": name, "environment": env_name}
            findings += [
                Finding(at + f.loc, f.message)
                for f in environment_findings(env, values=values, cwd=base)
            ]
            if service.migrations is not None:
                # Run with each environment's command environment: checked in each, said once.
                for found in migration_findings(service.migrations, env, values, cwd=base):
                    located = Finding(("services", name, *found.loc), found.message)
                    if located not in findings:
                        findings.append(located)
    findings += [Finding(loc, message) for loc, message in comms_findings(settings, os.environ)]
    return findings


def environment_findings(
    env: EnvironmentSettings, *, values: dict[str, str], cwd: Path
) -> list[Finding]:
    """The programs of one deployment environment and what its backend names, located."""
    child_env = environment_for(env)
    findings: list[Finding] = []
    # Every backend section the environment has, the way its package checks it.
    for name, section in env.backend_sections.items():
        findings += [
            Finding((name, *f.where), f.problem)
            for f in registry.backend_type(name).findings(
                section, values=values, cwd=cwd, child_env=child_env
            )
        ]
    programs: list[tuple[Loc, list[str]]] = [
        (("checks", i, "argv"), check.argv) for i, check in enumerate(env.checks)
    ]
    if env.backup:
        programs.append((("backup",), env.backup))
    # The pipeline's commands: smoke tests, hooks and every suite's checks.
    for key, commands in (
        ("smoke", env.smoke),
        ("after_deploy", env.after_deploy),
        ("after_rollback", env.after_rollback),
    ):
        programs += [((key, i, "argv"), check.argv) for i, check in enumerate(commands)]
    for suite, checks in env.suites.items():
        programs += [(("suites", suite, i, "argv"), check.argv) for i, check in enumerate(checks)]
    for loc, argv in programs:
        problem = start_problem(argv, values=values, env=child_env, cwd=cwd)
        if problem:
            findings.append(Finding(loc, problem))
    return findings


def migration_findings(
    migrations: MigrationSettings,
    env: EnvironmentSettings,
    values: dict[str, str],
    *,
    cwd: Path,
) -> list[Finding]:
    """The service's migration commands, started the way an environment's deploy starts them."""
    child_env = environment_for(env)
    findings = []
    for hook in ("check", "up", "down", "verify", "snapshot"):
        argv = getattr(migrations, hook)
        if argv:
            problem = start_problem(argv, values=values, env=child_env, cwd=cwd)
            if problem:
                findings.append(Finding(("migrations", hook), problem))
    return findings


def repository_problem(repository: str, *, cwd: Path) -> str | None:
    """A local path that is no repository, or an address whose syntax git would refuse."""
    if "://" in repository:
        try:
            parts = urlsplit(repository)
            parts.port  # noqa: B018 - parsing the port is the check
        except ValueError as exc:
            return f"the address does not parse: {exc}"
        if parts.scheme == "file":
            return _local_repository_problem(Path(unquote(parts.path)), cwd)
        if not parts.hostname:
            return "the address has no host (e.g. ssh://git@github.com/example/payments.git)"
        return None
    # git's scp-like syntax, [user@]host:path, has no slash before its first colon.
    if ":" in repository.split("/", 1)[0]:
        user_host, _, path = repository.partition(":")
        if not user_host.rpartition("@")[2]:
            return "the address has no host before ':' (e.g. git@github.com:example/payments.git)"
        if not path:
            return "the address has no repository path after ':'"
        return None
    return _local_repository_problem(Path(repository), cwd)


def _local_repository_problem(path: Path, cwd: Path) -> str | None:
    where = "" if path.expanduser().is_absolute() else f" (relative to {cwd})"
    path = cwd / path.expanduser()
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:  # a name too long, a loop of symbolic links
        return f"{path} cannot be read: {exc.strerror}"
    if not exists:
        return f"{path} does not exist{where}"
    if not is_dir:
        return f"{path} is not a directory"
    if GitRepository.toplevel(path) is None and not GitRepository.is_bare(path):
        return (
            f"{path} is not a git repository (neither the top of a work tree nor a bare repository)"
        )
    return None
