"""What every evolstm command line shares: argument mistakes are reported in one line, like config mistakes."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage mistake prints `error: ... (see PROG --help)` on one line and exits with code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)

    def add_overrides(self, help: str) -> None:
        """The repeatable `--set key.path=value` option (collected in `overrides`)."""
        self.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE", help=help)
