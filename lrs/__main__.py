"""`python -m lrs ...` is the `lrs` command."""

from lrs.cli import main

if __name__ == "__main__":
    main()
