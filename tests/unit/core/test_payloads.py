"""Topic payloads: what the encoders write validates against docs/schemas, and decoders
refuse what the schemas refuse, with a reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from streams.core.exceptions import PayloadError
from streams.core.payloads import (
    EMPTY_PROFILE,
    decode_hours,
    decode_polls,
    decode_stored_profile,
    decode_zone,
    encode_hours,
    encode_poll,
    encode_polls,
    encode_profile,
    encode_zone,
    merge_stored,
    with_hours,
    with_zone,
)
from streams.core.timestamps import parse_timestamp
from tests.unit.core.helpers import BOUNDS

SCHEMAS = Path(__file__).resolve().parents[3] / "docs" / "schemas"


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def _valid(name: str, data: bytes) -> bool:
    return jsonschema.Draft202012Validator(_schema(name)).is_valid(json.loads(data))


def test_poll_messages_round_trip_and_validate() -> None:
    keys = np.array([1_674_389_379_388_884 * 2 + 1, 1_674_392_979_000_000 * 2], dtype=np.int64)
    batch = encode_polls("s-1", keys)
    assert _valid("polls.schema.json", batch)
    got = decode_polls(batch, BOUNDS)
    assert got.store_id == "s-1"
    assert np.array_equal(got.keys, keys)
    single = encode_poll("42", "Inactive", "2023-01-22 12:09:39.388884 UTC")
    assert _valid("polls.schema.json", single)
    one = decode_polls(single, BOUNDS)
    assert one.keys.tolist() == [parse_timestamp("2023-01-22T12:09:39.388884Z") * 2]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{oops", "not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"status": "active", "timestamp_utc": "2023-01-22T12:00:00Z"}', "store_id is missing"),
        (
            b'{"store_id": 7, "status": "active", "timestamp_utc": "2023-01-22T12:00:00Z"}',
            "not a string",
        ),
        (b'{"store_id": true, "polls": [[1674388800000000, "active"]]}', "not a string"),
        (b'{"store_id": "a,b", "polls": [[1674388800000000, "active"]]}', "characters other than"),
        (
            b'{"store_id": "s", "status": "up", "timestamp_utc": "2023-01-22T12:00:00Z"}',
            "unknown status",
        ),
        (
            b'{"store_id": "s", "status": "active", "timestamp_utc": "noon"}',
            "unparseable timestamp",
        ),
        (b'{"store_id": "s", "polls": []}', "non-empty list"),
    ],
)
def test_bad_poll_messages_are_refused_by_decoder_and_schema(payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason.replace("[", r"\[")):
        decode_polls(payload, BOUNDS)
    try:
        value = json.loads(payload)
    except json.JSONDecodeError:
        return
    assert not jsonschema.Draft202012Validator(_schema("polls.schema.json")).is_valid(value)


def test_a_poll_from_the_future_is_refused_by_the_decoder() -> None:
    # The schema cannot know the time a message is read; the decoder does.
    with pytest.raises(PayloadError, match="in the future"):
        decode_polls(encode_poll("s", "active", "2099-01-01T00:00:00Z"), BOUNDS)
    with pytest.raises(PayloadError, match="before 2000-01-01"):
        decode_polls(encode_poll("s", "active", "1999-12-31T23:59:59Z"), BOUNDS)


def test_bad_polls_of_a_batch_are_left_out_with_reasons_and_the_good_kept() -> None:
    good = parse_timestamp("2023-01-22T12:00:00Z")
    future = parse_timestamp("2099-01-01T00:00:00Z")
    payload = json.dumps(
        {
            "store_id": "s",
            "polls": [[good, "active"], [1.5, "active"], [good + 1, "maybe"], [1], [future, "active"],
                      [5, "inactive"], [good + 2, "INACTIVE"]],
        }
    ).encode()  # fmt: skip
    batch = decode_polls(payload, BOUNDS)
    assert batch.keys.tolist() == [good * 2 + 1, (good + 2) * 2]
    assert [r.split(":")[0].split(" ")[0] for r in batch.rejected] == [
        "polls[1]", "polls[2]", "polls[3]", "polls[4]", "polls[5]",
    ]  # fmt: skip
    assert "in the future" in batch.rejected[3]
    assert "before 2000-01-01" in batch.rejected[4]
    assert not jsonschema.Draft202012Validator(_schema("polls.schema.json")).is_valid(
        json.loads(payload)
    )


def test_hours_and_zone_messages() -> None:
    shifts = ((0, 9 * 3600 * 10**6, 17 * 3600 * 10**6), (5, 22 * 3600 * 10**6, 2 * 3600 * 10**6))
    data = encode_hours("s", shifts)
    assert _valid("store-hours.schema.json", data)
    assert decode_hours(data) == ("s", shifts, None)
    assert decode_hours(encode_hours("s", (), version=7)) == ("s", (), 7)
    assert _valid("store-hours.schema.json", encode_hours("s", (), version=7))
    with pytest.raises(PayloadError, match=r"shifts\[0\].day = 7"):
        decode_hours(b'{"store_id": "s", "shifts": [{"day": 7, "start": "09:00", "end": "10:00"}]}')
    with pytest.raises(PayloadError, match="out of range"):
        decode_hours(b'{"store_id": "s", "shifts": [{"day": 1, "start": "25:00", "end": "10:00"}]}')
    zone = encode_zone("s", "Asia/Tokyo", version=9)
    assert _valid("store-timezone.schema.json", zone)
    assert decode_zone(zone) == ("s", "Asia/Tokyo", 9)
    with pytest.raises(PayloadError, match="'version'"):
        decode_zone(b'{"store_id": "s", "timezone": "UTC", "version": "yesterday"}')
    with pytest.raises(PayloadError, match="timezone"):
        decode_zone(json.dumps({"store_id": "s", "timezone": "x" * 300}).encode())
    stored = EMPTY_PROFILE._replace(hours_version=3)
    assert decode_stored_profile(encode_profile(stored)) == stored
    assert (
        decode_stored_profile(b'{"shifts": [], "zone": null}') == EMPTY_PROFILE
    )  # before versions


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "depth limit exceeded"),
        (
            b'{"store_id": "s", "status": "active", "timestamp_utc": ' + b"9" * 5_001 + b"}",
            "not JSON",
        ),
        (b'{"store_id": "' + b"x" * 1_100_000 + b'"}', "at most"),
        (b"\xff\xfe not utf-8", "not JSON"),
        (b'{"store_id": "s", "shifts": "' + b"x" * 70_000 + b'"}', "at most"),
    ],
)
def test_poison_store_messages_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    for decode in (lambda d: decode_polls(d, BOUNDS), decode_hours, decode_zone):
        with pytest.raises(PayloadError):
            decode(payload)
    with pytest.raises(PayloadError, match=reason):
        (decode_hours if b"shifts" in payload else lambda d: decode_polls(d, BOUNDS))(payload)


def test_a_stale_schedule_or_zone_never_replaces_a_newer_one() -> None:
    nine_to_five = ((0, 9 * 3600 * 10**6, 17 * 3600 * 10**6),)
    stored = with_zone(with_hours(EMPTY_PROFILE, nine_to_five, 20) or EMPTY_PROFILE, "UTC", 30)
    assert stored is not None
    assert with_hours(stored, (), 19) is None  # forwarded late: older than what is kept
    assert with_zone(stored, "Asia/Tokyo", 29) is None
    again = with_hours(stored, nine_to_five, 20)  # the same update replayed
    assert again == stored
    newer = with_hours(stored, (), 21)
    assert newer is not None
    assert newer.profile.shifts == ()
    assert newer.profile.zone == "UTC"
    assert (newer.hours_version, newer.zone_version) == (21, 30)


def test_a_changelog_record_of_a_stale_writer_regresses_no_part_of_a_profile() -> None:
    # The new owner wrote hours (v20) then a zone (v30); a worker that had lost the
    # partition without knowing it then wrote the zone (v30) onto what it had: no hours.
    nine_to_five = ((0, 9 * 3600 * 10**6, 17 * 3600 * 10**6),)
    owner = with_zone(with_hours(EMPTY_PROFILE, nine_to_five, 20) or EMPTY_PROFILE, "UTC", 30)
    zombie = with_zone(EMPTY_PROFILE, "UTC", 30)
    assert owner is not None
    assert zombie is not None
    assert merge_stored(owner, zombie) == owner  # in either order: the same profile
    assert merge_stored(zombie, owner) == owner
    newer_zone = with_zone(EMPTY_PROFILE, "Asia/Tokyo", 31)
    assert newer_zone is not None
    merged = merge_stored(owner, newer_zone)
    assert merged.profile == owner.profile._replace(zone="Asia/Tokyo")
    assert (merged.hours_version, merged.zone_version) == (20, 31)
    assert merge_stored(EMPTY_PROFILE, owner) == owner
    assert merge_stored(owner, owner) == owner
