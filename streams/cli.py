"""``storemon``: the one command line of the project; each subcommand calls its shell."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _report(args: argparse.Namespace) -> int:
    from streams import offline

    return offline.run(args.status, args.hours, args.timezones, args.as_of, args.store_id, args.out)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="storemon", description="Store uptime monitoring.")
    sub = parser.add_subparsers(dest="command", required=True)

    report = sub.add_parser("report", help="compute the report offline from the CSV exports")
    report.add_argument("--status", type=Path, required=True, help="polls CSV")
    report.add_argument("--hours", type=Path, required=True, help="business hours CSV")
    report.add_argument("--timezones", type=Path, required=True, help="time zones CSV")
    report.add_argument("--as-of", help="report time, ISO 8601 (default: the newest poll)")
    report.add_argument("--store-id", help="report only this store")
    report.add_argument("--out", type=Path, help="write the CSV here instead of stdout")
    report.set_defaults(func=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``storemon``; returns the exit code."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
