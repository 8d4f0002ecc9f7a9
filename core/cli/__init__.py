"""``python -m core``: one module per group of subcommands; ``main`` dispatches."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
