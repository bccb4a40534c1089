"""A service's database migrations in a deployment (`migrations:` in the service's config).

A deploy runs `up` after the backup and before the rollout. A rollback runs `down`, then
`verify`, after the code is back (see README "Database migrations": the code first, so the
service is restored as fast as the incident needs, and the data second); `--preserve-data`
skips both. A failed `down` or `verify` runs `snapshot` (the emergency dump) and the run
stops for people: nothing more is tried on a database in an unknown state.

{version} means the schema's aim: for `up` the version being deployed; for `down`,
`verify` and `snapshot` the version the rollback goes back to.
"""

from __future__ import annotations

from services.deploy.engine.deps import DeployDeps
from services.deploy.engine.steps import Done, command_step, values
from services.deploy.model import Deployment
from services.deploy.process import environment_for, fill, run
from services.deploy.settings import EnvironmentSettings, MigrationSettings
from services.errors import DeployError

UP = "migrate-up"
DOWN = "migrate-down"
VERIFY = "migrate-verify"
SNAPSHOT = "migrate-snapshot"
STEP_COMMAND = {UP: "up", DOWN: "down", VERIFY: "verify", SNAPSHOT: "snapshot"}


def settings_of(deps: DeployDeps, deployment: Deployment) -> MigrationSettings | None:
    service = deps.settings.services.get(deployment.service)
    return service.migrations if service else None


def migrate(
    env: EnvironmentSettings,
    migrations: MigrationSettings,
    deployment: Deployment,
    *,
    step: str,
    version: str,
) -> Done:
    """Run one migration command; DeployError (the database may have changed) if it fails.

    Its output's last lines follow the outcome: a snapshot prints where the dump went.
    """
    which = STEP_COMMAND[step]
    argv = getattr(migrations, which)
    assert argv is not None
    result = run(
        fill(argv, {**values(deployment), "version": version}),
        timeout=migrations.timeout_seconds,
        env=environment_for(env),
    )
    return command_step(result, failed_as=f"Migration {which}", done_as=which, changed=True)


def interrupted(step: str) -> DeployError:
    """A migration found started but not finished after a restart: never run twice blindly."""
    return DeployError(
        f"Migration {STEP_COMMAND[step]} was interrupted by a restart: whether it finished is"
        " unknown, so it is not run again.",
        hint="Check the database (migrations.check), then decide: roll back or deploy again.",
        changed=True,
    )


def already_failed(step: str) -> DeployError:
    """A migration that failed earlier in this deployment: a second try on a database in an
    unknown state could make it worse (a `downgrade -1` drops one more migration)."""
    return DeployError(
        f"Migration {STEP_COMMAND[step]} already failed in this deployment: it is not run again.",
        hint="Check the database (migrations.check) and repair it by hand.",
        changed=True,
    )
