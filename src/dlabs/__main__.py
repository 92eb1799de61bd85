"""`python -m dlabs` runs the command line."""

from dlabs.cli import main

main()
