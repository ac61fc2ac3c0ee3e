"""Placeholder: being written (see issues)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of this sub-command."""
    parser.add_argument("-c", "--config", required=False)


def main(args: argparse.Namespace) -> int:
    """Not implemented yet."""
    print("not implemented yet")
    return 1
