"""CSV exports → Kafka: read, validate with the core, produce keyed by store."""
