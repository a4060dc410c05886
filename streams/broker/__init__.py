"""A single-node Apache Kafka (KRaft) run locally from the official Maven Central jars."""
