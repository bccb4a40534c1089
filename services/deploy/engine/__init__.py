"""The deploy engine: a persisted state machine run on the bot's worker.

approved → validating → deploying → verifying → succeeded, or
failed → rolling_back → rolled_back. Each step is recorded before and after it runs;
a bot restarted mid-deployment finds it in flight, reconciles with what the target runs,
and reports it as interrupted with Resume / Rollback instead of repeating a step blindly.

* `lifecycle` - what the bot calls: start, interrupt, recover_after_restart, resume,
  rollback_now.
* `run` - one pass over one deployment (the state machine); `steps` and `verification`
  - the steps it records; `rolling_back` - its rollback half (code, data, verify, manual
  intervention); `stakeholders` - who hears beyond the card.
* `deps` - the engine's dependencies and the environment a deployment targets.

The engine names no backend: it asks services.deploy.registry.
"""

from services.deploy.engine.deps import DeployDeps, environment_of
from services.deploy.engine.lifecycle import (
    interrupt,
    recover_after_restart,
    resume,
    rollback_now,
    start,
)
from services.deploy.engine.rolling_back import (
    keep_data,
    refuse_after_manual_intervention,
    refuse_rollback_of_target,
)

__all__ = [
    "DeployDeps",
    "environment_of",
    "interrupt",
    "keep_data",
    "recover_after_restart",
    "refuse_after_manual_intervention",
    "refuse_rollback_of_target",
    "resume",
    "rollback_now",
    "start",
]
