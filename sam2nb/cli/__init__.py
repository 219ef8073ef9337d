"""cli: the ``sam2nb`` command and its subcommands (views over the core, no widgets)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run the ``sam2nb`` command line (the console script's entry point).

    Example:
        >>> main(["models"])  # doctest: +SKIP
    """
    from .commands import main as run

    return run(argv)
