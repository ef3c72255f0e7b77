"""`python -m consumers persist`: the same as `lrs consume persist`."""

from lrs.cli import main

if __name__ == "__main__":
    main(["consume", *__import__("sys").argv[1:]])
