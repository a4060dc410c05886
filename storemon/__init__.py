"""The tooling around the product: the command line, the local Kafka, the demo and the
process supervisor. Nothing in ``streams/``, ``api/`` or ``replay/`` imports it."""
