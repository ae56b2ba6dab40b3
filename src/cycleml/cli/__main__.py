"""``python -m cycleml.cli``: the ``cycleml`` command."""

from cycleml.cli import main

if __name__ == "__main__":
    main()
