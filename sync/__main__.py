"""`python -m sync` is `haochaping-sync`."""

from sync.cli import main

main()
