"""`python -m bot` is the `hotfix-bot` command."""

from bot.cli import main

main()
