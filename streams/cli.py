"""``storemon``: the one command line of the project; each subcommand calls its shell."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _report(args: argparse.Namespace) -> int:
    from streams import offline

    return offline.run(args.status, args.hours, args.timezones, args.as_of, args.store_id, args.out)


def _kafka(args: argparse.Namespace) -> int:
    from streams.broker.local import BrokerError, LocalKafka
    from streams.settings import get_settings

    kafka = LocalKafka(get_settings())
    try:
        if args.action == "up":
            status = kafka.up(fresh=args.fresh)
            print(f"kafka {kafka.version} answers at {status.bootstrap} (pid {status.pid})")
        elif args.action == "down":
            print("kafka stopped" if kafka.down() else "kafka was not running")
        elif args.action == "install":
            kafka.install()
            print(f"kafka {kafka.version} jars in {kafka.libs}")
        else:
            status = kafka.status()
            state = "answers" if status.answers else "does not answer"
            print(f"kafka at {status.bootstrap} {state}; local broker pid: {status.pid or 'none'}")
            return 0 if status.answers else 1
    except BrokerError as exc:
        print(f"storemon kafka {args.action}: {exc}", file=sys.stderr)
        return 2
    return 0


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

    kafka = sub.add_parser("kafka", help="run the local single-node Kafka (KRaft)")
    kafka.add_argument("action", choices=["up", "down", "status", "install"])
    kafka.add_argument("--fresh", action="store_true", help="with up: wipe the broker's data")
    kafka.set_defaults(func=_kafka)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``storemon``; returns the exit code."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
