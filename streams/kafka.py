"""Kafka clients made one way: every producer, consumer and admin client of the project
(and Faust's own) gets its servers and its security (SASL, TLS) from the settings here.
"""

from __future__ import annotations

import ssl
from typing import Any

from streams.settings import Settings


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of SSL and SASL_SSL; None for the plaintext protocols."""
    if not settings.kafka_security_protocol.endswith("SSL"):
        return None
    from aiokafka.helpers import create_ssl_context

    context: ssl.SSLContext = create_ssl_context(
        cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None,
        certfile=str(settings.kafka_ssl_certfile) if settings.kafka_ssl_certfile else None,
        keyfile=str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
    )
    return context


def client_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments every aiokafka client takes: servers and security."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": password.get_secret_value() if password else None,
        }
    return options


def producer(settings: Settings, **options: Any) -> Any:
    """An ``AIOKafkaProducer`` (not started)."""
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(**client_options(settings), **options)


def consumer(settings: Settings, *topics: str, **options: Any) -> Any:
    """An ``AIOKafkaConsumer`` (not started)."""
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(*topics, **client_options(settings), **options)


def admin(settings: Settings, **options: Any) -> Any:
    """An ``AIOKafkaAdminClient`` (not started)."""
    from aiokafka.admin import AIOKafkaAdminClient

    return AIOKafkaAdminClient(**client_options(settings), **options)


def faust_credentials(settings: Settings) -> Any:
    """What Faust's ``broker_credentials`` takes for these settings (None: plaintext)."""
    import faust

    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    password = settings.kafka_sasl_password
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=password.get_secret_value() if password else None,
        mechanism=settings.kafka_sasl_mechanism,
        ssl_context=ssl_context(settings),
    )
