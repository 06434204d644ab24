"""`python -m ops ...`: the same as the installed `push-registry` command."""

from ops.cli import main

main()
