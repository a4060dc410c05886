"""``storemon worker``: one Faust worker; start several and they share the partitions."""

from __future__ import annotations

import logging
from pathlib import Path

from streams.settings import get_settings, use_settings
from streams.topics import ensure_topics, topics_for


def run(data_dir: Path | None, web_port: int | None, loglevel: str = "info") -> int:
    """Create missing topics, then run the worker until it is stopped."""
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if web_port is not None:
        overrides["web_port"] = web_port
    settings = get_settings().model_copy(update=overrides)
    use_settings(settings)
    report = ensure_topics(settings)  # also says which topics are replicated less than asked
    if report.created:
        logging.getLogger(__name__).info("created topics %s", ", ".join(report.created))
    # Faust makes topics of its own (its assignor's) with the factor the topics have.
    settings = settings.model_copy(
        update={
            "replication_factor": report.replication.factor,
            "min_insync_replicas": report.replication.min_insync,
        }
    )
    use_settings(settings)

    import faust

    from streams import engine, faults

    topics = topics_for(settings)
    # before the app makes its consumer
    engine.install(holeless=frozenset({topics.polls.name, topics.report_requests.name}))
    import streams.agents.alerts
    import streams.agents.ingest
    import streams.agents.maintenance
    import streams.agents.reports
    import streams.agents.rereads
    import streams.agents.stats
    import streams.agents.watchdog  # noqa: F401 - registers the agents and the timers
    from streams.app import TOPICS, app

    faults.install(settings, app, TOPICS.polls.name, TOPICS.zones.name)

    worker = faust.Worker(app, loglevel=loglevel)
    worker.execute_from_commandline()
    return 0
