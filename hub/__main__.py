"""`python -m hub` is the `laoke` command (handy before the console script is installed)."""

from .cli import main

main()
