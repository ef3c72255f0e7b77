"""`python -m consumers NAME`: the same as `lrs consume NAME`."""

import sys

from lrs.entry.cli import main

if __name__ == "__main__":
    main(["consume", *sys.argv[1:]])
