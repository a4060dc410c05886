"""A Faust app whose one agent does nothing with the polls topic's messages: the engine's
own ceiling, measured beside the real worker (``bench/live.py``).

Run as ``python -m bench.noop`` with the same ``STOREMON_*`` settings as a worker; it
consumes ``<topic prefix>.polls`` as consumer group ``<app id>``, with the worker's commit
interval, and keeps no tables.
"""

from __future__ import annotations

import faust

from streams.settings import get_settings
from streams.topics import topics_for

settings = get_settings()
app = faust.App(
    settings.app_id,
    broker=[f"kafka://{s.strip()}" for s in settings.bootstrap_servers.split(",")],
    autodiscover=False,
    topic_partitions=settings.partitions,
    topic_replication_factor=1,
    processing_guarantee="at_least_once",
    consumer_auto_offset_reset="earliest",
    broker_commit_interval=settings.commit_every_s,
    web_enabled=False,
    datadir=str(settings.data_dir),
)
polls = app.topic(
    topics_for(settings).polls.name, key_type=bytes, value_type=bytes,
    key_serializer="raw", value_serializer="raw",
)  # fmt: skip


@app.agent(polls, name="noop")
async def noop(stream: faust.StreamT[bytes]) -> None:
    """Take every message and do nothing with it."""
    async for _event in stream.events():
        pass


if __name__ == "__main__":
    faust.Worker(app, loglevel="info").execute_from_commandline()
