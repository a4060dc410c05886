"""The report's meaning, pure: no Kafka, no Faust, no RocksDB, no HTTP.

A poll flows through it as: ``rows`` (validate a CSV row or payload) → ``polllog``
(a store's retained polls) → ``timeline`` (business hours from ``schedule`` and the
nearest-observation status, as prefix sums) → ``report`` (the three windows, CSV rows).
"""
