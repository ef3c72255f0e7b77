"""`python -m lrs ...` is the `lrs` command."""

from lrs.entry.cli import main

if __name__ == "__main__":
    main()
