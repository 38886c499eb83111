"""`python -m mlcd` runs the CLI."""

from mlcd.cli.main import main

main()
