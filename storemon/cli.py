"""``storemon``: the one command line of the project; each subcommand calls its shell."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def _report(args: argparse.Namespace) -> int:
    from streams import offline
    from streams.settings import get_settings

    if args.month is not None:
        if args.as_of is not None or args.store_id is not None:
            print("storemon report: --month goes without --as-of and --store-id", file=sys.stderr)
            return 2
        return offline.run_monthly(
            args.status, args.hours, args.timezones, args.month, args.out,
            get_settings().time_bounds(),
        )  # fmt: skip
    return offline.run(
        args.status,
        args.hours,
        args.timezones,
        args.as_of,
        args.store_id,
        args.out,
        get_settings().time_bounds(),
    )


def _incidents(args: argparse.Namespace) -> int:
    from streams import offline
    from streams.settings import get_settings

    return offline.run_incidents(
        args.status, args.hours, args.timezones, args.store_id, args.start, args.end,
        args.format == "json", get_settings().time_bounds(),
    )  # fmt: skip


def _history(args: argparse.Namespace) -> int:
    from streams import offline
    from streams.settings import get_settings

    return offline.run_history(
        args.status, args.hours, args.timezones, args.store_id, args.start, args.end,
        args.format == "json", get_settings().time_bounds(),
    )  # fmt: skip


def _kafka(args: argparse.Namespace) -> int:
    from storemon.localkafka import BrokerError, LocalKafka
    from streams.settings import get_settings

    if args.brokers is not None and args.brokers < 1:
        print(f"storemon kafka {args.action}: --brokers must be 1 or more", file=sys.stderr)
        return 2
    kafka = LocalKafka(get_settings(), brokers=args.brokers if args.action == "up" else None)
    try:
        if args.action == "up":
            if args.brokers is None and kafka.recorded_brokers is not None:
                n = kafka.recorded_brokers
                print(
                    f"using {n} broker{'s' if n > 1 else ''}, as the last run made; "
                    "pass --brokers N to change",
                    flush=True,
                )
            status = kafka.up(fresh=args.fresh, secure=True if args.secure else None)
            print(f"kafka {kafka.version} answers at {status.bootstrap} (pid {status.pid})")
            if kafka.brokers > 1:
                print(f"  KAFKA_BOOTSTRAP_SERVERS={kafka.bootstrap()}")
            found = kafka.credentials()
            if found is not None:
                print(f"clients authenticate (SASL_PLAINTEXT; credentials in {kafka.secrets}):")
                print("  STOREMON_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT")
                print("  STOREMON_KAFKA_SASL_MECHANISM=SCRAM-SHA-512  # or PLAIN")
                print(f"  STOREMON_KAFKA_SASL_USERNAME={found.username}")
                print(f"  STOREMON_KAFKA_SASL_PASSWORD=<password in {kafka.secrets.name}>")
        elif args.action == "down":
            print("kafka stopped" if kafka.down() else "kafka was not running")
        elif args.action == "install":
            kafka.install()
            print(f"kafka {kafka.version} jars in {kafka.libs}")
        elif args.json:
            nodes = kafka.node_status()
            print(json.dumps([n._asdict() for n in nodes]))
            return 0 if all(n.up for n in nodes) else 1
        else:
            status = kafka.status()
            state = "answers" if status.answers else "does not answer"
            print(f"kafka at {status.bootstrap} {state}; local broker pid: {status.pid or 'none'}")
            return 0 if status.answers else 1
    except BrokerError as exc:
        print(f"storemon kafka {args.action}: {exc}", file=sys.stderr)
        return 2
    return 0


def _worker(args: argparse.Namespace) -> int:
    from streams import worker

    return worker.run(args.data_dir, args.web_port, args.loglevel)


def _replay(args: argparse.Namespace) -> int:
    from replay import producer
    from streams.core.exports import SourceError
    from streams.settings import get_settings

    try:
        return producer.run(
            get_settings(), args.status, args.hours, args.timezones, args.rate, args.speed
        )
    except SourceError as exc:
        print(f"storemon replay: {exc}", file=sys.stderr)
        return 2


def _lag(args: argparse.Namespace) -> int:
    from streams import lag
    from streams.settings import get_settings

    return lag.run(get_settings(), args.wait_zero, args.timeout, args.samples)


def _api(args: argparse.Namespace) -> int:
    from api.main import run
    from streams.settings import get_settings

    return run(args.port or get_settings().api_port, args.host)


def _token(args: argparse.Namespace) -> int:
    from api import tokens
    from streams.settings import get_settings

    path = args.file or get_settings().auth_file
    if path is None:
        print(
            "storemon token: no token file: set STOREMON_AUTH_FILE (or pass --file)",
            file=sys.stderr,
        )
        return 2
    try:
        if args.action == "create":
            if not args.name or not args.scopes:
                print("storemon token create: --name and --scopes are needed", file=sys.stderr)
                return 2
            tenant = None
            if args.tenant is not None:
                if args.stores is None and not args.store_prefix:
                    print(
                        "storemon token create: --tenant needs --stores FILE or --store-prefix P",
                        file=sys.stderr,
                    )
                    return 2
                tenant = tokens.Tenant(
                    args.tenant,
                    tokens.read_stores(args.stores) if args.stores is not None else frozenset(),
                    tuple(tokens.check_prefix(p) for p in args.store_prefix or ()),
                )
            elif args.stores is not None or args.store_prefix:
                print("storemon token create: --stores and --store-prefix need --tenant",
                      file=sys.stderr)  # fmt: skip
                return 2
            token = tokens.create(path, args.name, args.scopes, tenant)
            bound = "" if tenant is None else f", tenant {tenant.name!r}"
            print(f"token {args.name!r} ({args.scopes}{bound}) added to {path}; it is shown once:")
            print(token)
        elif args.action == "list":
            for entry in tokens.read(path):
                bound_to = "" if entry.tenant is None else f"\ttenant {entry.tenant.name}"
                print(f"{entry.name}\t{','.join(entry.scopes)}\t{entry.created_at}{bound_to}")
        else:
            name = args.name_arg or args.name
            if not name:
                print("storemon token revoke: the token's name is needed", file=sys.stderr)
                return 2
            tokens.revoke(path, name)
            print(f"token {name!r} revoked; the API stops accepting it within a second")
    except tokens.TokenError as exc:
        print(f"storemon token {args.action}: {exc}", file=sys.stderr)
        return 2
    return 0


def _demo(args: argparse.Namespace) -> int:
    from storemon import demo
    from streams.settings import get_settings

    return demo.run(get_settings(), keep=args.keep)


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
    report.add_argument("--month", help="a monthly report of YYYY-MM instead (docs §8.3)")
    report.set_defaults(func=_report)

    incidents = sub.add_parser("incidents", help="each store's incidents offline, from the CSVs")
    incidents.add_argument("--status", type=Path, required=True, help="polls CSV")
    incidents.add_argument("--hours", type=Path, required=True, help="business hours CSV")
    incidents.add_argument("--timezones", type=Path, required=True, help="time zones CSV")
    incidents.add_argument("--store-id", help="only this store")
    incidents.add_argument("--from", dest="start", help="ISO 8601 (default: --to minus 7 days)")
    incidents.add_argument("--to", dest="end", help="ISO 8601 (default: the newest poll)")
    incidents.add_argument("--format", choices=["csv", "json"], default="csv")
    incidents.set_defaults(func=_incidents)

    history = sub.add_parser("history", help="each store's daily uptime offline, from the CSVs")
    history.add_argument("--status", type=Path, required=True, help="polls CSV")
    history.add_argument("--hours", type=Path, required=True, help="business hours CSV")
    history.add_argument("--timezones", type=Path, required=True, help="time zones CSV")
    history.add_argument("--store-id", help="only this store")
    history.add_argument("--from", dest="start", help="first local date, YYYY-MM-DD")
    history.add_argument("--to", dest="end", help="last local date, YYYY-MM-DD (included)")
    history.add_argument("--format", choices=["csv", "json"], default="csv")
    history.set_defaults(func=_history)

    kafka = sub.add_parser("kafka", help="run the local Kafka (KRaft): one node or a cluster")
    kafka.add_argument("action", choices=["up", "down", "status", "install"])
    kafka.add_argument("--fresh", action="store_true", help="with up: wipe the broker's data")
    kafka.add_argument(
        "--brokers",
        type=int,
        default=None,
        help="with up: how many nodes (default 1, or as the last run made)",
    )
    kafka.add_argument("--json", action="store_true", help="with status: one object per node")
    kafka.add_argument(
        "--secure",
        action="store_true",
        help="with up: clients must authenticate (SASL SCRAM-SHA-512 or PLAIN); the first "
        "start makes the credentials (with --fresh, new ones)",
    )
    kafka.set_defaults(func=_kafka)

    replay = sub.add_parser("replay", help="produce the CSV exports into Kafka, keyed by store")
    replay.add_argument("--status", type=Path, required=True, help="polls CSV")
    replay.add_argument("--hours", type=Path, required=True, help="business hours CSV")
    replay.add_argument("--timezones", type=Path, required=True, help="time zones CSV")
    pace = replay.add_mutually_exclusive_group()
    pace.add_argument("--rate", type=float, help="polls per second, in time order")
    pace.add_argument("--speed", type=float, help="the data's own pace, sped up this many times")
    replay.set_defaults(func=_replay)

    worker = sub.add_parser("worker", help="run one Faust worker (several share the partitions)")
    worker.add_argument("--data-dir", type=Path, help="this worker's RocksDB folder")
    worker.add_argument("--web-port", type=int, help="serve Faust's web views on this port")
    worker.add_argument("--loglevel", default="info", help="debug, info, warning, error")
    worker.set_defaults(func=_worker)
    api = sub.add_parser("api", help="serve the HTTP API (reports)")
    api.add_argument("--port", type=int, help="default 8000 (STOREMON_API_PORT)")
    api.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    api.set_defaults(func=_api)

    token = sub.add_parser("token", help="the API's tokens: create, list, revoke")
    token.add_argument("action", choices=["create", "list", "revoke"])
    token.add_argument("name_arg", nargs="?", metavar="NAME", help="with revoke: the token")
    token.add_argument("--name", help="with create: a name for the token")
    token.add_argument("--scopes", help="with create: ingest, report, metrics, admin (a,b)")
    token.add_argument("--file", type=Path, help="the token file (default STOREMON_AUTH_FILE)")
    token.add_argument(
        "--tenant", help="with create: bind the token to a tenant's stores (ingest, report only)"
    )
    token.add_argument(
        "--stores", type=Path, help="with --tenant: a file of its store ids, one a line"
    )
    token.add_argument(
        "--store-prefix", action="append", help="with --tenant: its stores' id prefix (repeatable)"
    )
    token.set_defaults(func=_token)

    demo = sub.add_parser(
        "demo", help="fresh Kafka, two workers, the API, replay loop-2023, take a report"
    )
    demo.add_argument("--keep", action="store_true", help="keep workers and API running")
    demo.set_defaults(func=_demo)

    lag = sub.add_parser("lag", help="consumer lag of the workers, per partition")
    lag.add_argument("--wait-zero", action="store_true", help="wait until every lag is 0")
    lag.add_argument("--timeout", type=float, default=300.0, help="with --wait-zero: give up")
    lag.add_argument(
        "--samples", type=int, default=3, help="samples, 1 s apart, for the status (OK, WARN, …)"
    )
    lag.set_defaults(func=_lag)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``storemon``; returns the exit code."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
