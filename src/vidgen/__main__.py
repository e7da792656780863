"""`python -m vidgen`."""

from vidgen.cli import main

main()
