"""`python -m lrs ...` is the `lrs` command."""

from lrs.wiring.signals import ignore_feed_rewind

ignore_feed_rewind()  # before the imports of a start, which can take seconds

from lrs.entry.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
