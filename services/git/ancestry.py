"""Which commits of a hotfix branch are the development branch's unreleased work.

Production must get the fix and nothing else. A hotfix branch that merged
develop (the classic way out of a back-merge conflict), or was rebased onto
it, carries develop's unreleased commits; merging it into production would
release them under a patch version.

"Develop's own work" is every commit develop reaches without production having
it, except through a merge *of the hotfix branch* into develop: that is how the
fix legitimately gets to develop (the bot's back-merge, or a person resolving a
back-merge conflict on a branch off develop). A merge of the hotfix branch is
recognised as a non-first parent lying on the hotfix branch's first-parent
line; first parents are always followed, so develop's own line is never hidden.

A develop fast-forwarded onto the hotfix branch (possible only when develop had
nothing unreleased) looks exactly like a hotfix rebased onto develop: git keeps
no record of which came first. Both are refused; the first is harmless to
redo (recreate the branch and cherry-pick), the second would ship develop.
"""

from __future__ import annotations

from .working_copy import GitRepository


def unreleased_commits_carried(
    repo: GitRepository, *, hotfix: str, production: str, development: str
) -> list[str]:
    """Commits of ``hotfix`` (not on ``production``) that are ``development``'s own, oldest first."""
    carried = repo.rev_list("--reverse", "--topo-order", hotfix, f"^{production}")
    if not carried:
        return []
    hotfix_line = set(repo.rev_list("--first-parent", hotfix, f"^{production}"))
    parents = {
        line[0]: line[1:]
        for line in (
            entry.split() for entry in repo.rev_list("--parents", development, f"^{production}")
        )
    }
    own: set[str] = set()
    pending = [development] if development in parents else []
    while pending:
        commit = pending.pop()
        if commit in own:
            continue
        own.add(commit)
        for index, parent in enumerate(parents[commit]):
            if parent not in parents:
                continue  # production has it
            if index > 0 and parent in hotfix_line:
                continue  # develop merged the hotfix branch: that is the fix arriving
            pending.append(parent)
    return [commit for commit in carried if commit in own]
