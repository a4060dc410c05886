"""Kafka → tables → report rows: the Faust app and the pure core it stands on."""
