"""The pipeline's own messages: what the encoders write validates against docs/schemas,
and every malformed message is refused with a reason, never an exception of another kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from streams.core.exceptions import PayloadError
from streams.core.protocol import (
    Assembly,
    DeadLetter,
    ReportPart,
    ReportRequest,
    WorkerStats,
    decode_dead_letter,
    decode_part,
    decode_request,
    decode_stats,
    encode,
    encode_dead_letter,
)

SCHEMAS = Path(__file__).resolve().parents[3] / "docs" / "schemas"
RID = "r" * 24
ROW = ["a", "1.00", "0.00", "0.00", "0.00", "0.00", "0.00"]


def _valid(name: str, data: bytes) -> bool:
    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema).is_valid(json.loads(data))


def _request(**change: Any) -> dict[str, Any]:
    return {"report_id": RID, "phase": "rows", "n_us": 1_674_640_800_000_000, "store_id": None,
            "deadline": 1e9, **change}  # fmt: skip


def _part(**change: Any) -> dict[str, Any]:
    return {"report_id": RID, "partition": 3, "answer": "a1", "phase": "rows", "newest_us": None,
            "chunk": 0, "chunks": 1, "rows": [ROW], "keys": None, "profile": None, **change}  # fmt: skip


def test_messages_round_trip_and_validate_against_their_schemas() -> None:
    for request in (ReportRequest(**_request()), ReportRequest(**_request(month="2023-02"))):
        assert _valid("report-request.schema.json", encode(request))
        assert decode_request(encode(request)) == request
    monthly = ReportPart(**_part(rows=[["a", "1.00", "0.50", "0.50", "50.00"]], partial=True))
    assert _valid("report-part.schema.json", encode(monthly))
    assert decode_part(encode(monthly)) == monthly
    part = ReportPart(**_part())
    assert _valid("report-part.schema.json", encode(part))
    assert decode_part(encode(part)) == part
    stats = WorkerStats(worker="w", sent_at=1.0, ready=True, partitions=[0], polls_processed=5,
                        messages_processed=1, messages_rejected=0, newest_processed_us={},
                        table_keys={"stores": 1})  # fmt: skip
    assert _valid("worker-stats.schema.json", encode(stats))
    assert decode_stats(encode(stats)) == stats
    letter = encode_dead_letter("f.csv", "line 3", "bad", "x,y", "2026-01-01T00:00:00+00:00")
    assert _valid("dead-letter.schema.json", letter)
    assert decode_dead_letter(letter).reason == "bad"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (_request(store_id=123), "store_id"),
        (_request(n_us=1e30), "n_us"),
        (_request(n_us=10**40), "n_us"),
        (_request(n_us=None), "needs n_us"),
        (_request(phase="everything"), "phase"),
        (_request(report_id="../../etc/passwd"), "report_id"),
        (_request(deadline="soon"), "deadline"),
        (_request(extra=1), "extra"),
        (_request(month="2023-13"), "month"),
        (_request(month="2023-1"), "month"),
        (_request(month="0000-01"), "month"),
        ({k: v for k, v in _request().items() if k != "deadline"}, "deadline"),
    ],
)
def test_bad_report_requests_are_refused(message: dict[str, Any], reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        decode_request(json.dumps(message).encode())


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (json.dumps({"report_id": []}).encode(), "report_id"),
        (json.dumps(_part(rows=[["a"]])).encode(), "rows"),
        (json.dumps(_part(rows=[[1, 2, 3, 4, 5, 6, 7]])).encode(), "rows"),
        (json.dumps(_part(chunk=-1)).encode(), "chunk"),
        (json.dumps(_part(answer="")).encode(), "answer"),
        (b"[" * 100_000, "ReportPart"),
        (b"not json", "ReportPart"),
        (b"\xff\xfe", "ReportPart"),
        (json.dumps(_part(report_id="x" * 70_000)).encode(), "report_id"),
    ],
)
def test_poisoned_report_parts_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        decode_part(data)


def test_oversize_and_malformed_stats_and_letters_are_refused() -> None:
    with pytest.raises(PayloadError, match="at most"):
        decode_stats(b"{" + b" " * 70_000 + b"}")
    with pytest.raises(PayloadError, match="WorkerStats"):
        decode_stats(b'{"worker": "w"}')
    with pytest.raises(PayloadError, match="DeadLetter"):
        decode_dead_letter(b'{"source": 1}')


@pytest.mark.parametrize(
    ("model", "schema"),
    [
        (ReportRequest, "report-request.schema.json"),
        (ReportPart, "report-part.schema.json"),
        (WorkerStats, "worker-stats.schema.json"),
        (DeadLetter, "dead-letter.schema.json"),
    ],
)
def test_each_schema_names_exactly_its_messages_fields(model: type, schema: str) -> None:
    written = json.loads((SCHEMAS / schema).read_text())
    fields = set(model.model_fields)  # type: ignore[attr-defined]
    assert set(written["properties"]) == fields
    assert set(written["required"]) == fields
    assert written["additionalProperties"] is False


def _row(store: str) -> list[str]:
    return [store, "1.00", "2.00", "3.00", "0.00", "0.00", "0.00"]


def test_chunks_of_two_answers_for_one_partition_are_never_mixed() -> None:
    # The old owner's answer (a1) and the new owner's (b2) for partition 3 interleave; the
    # first whole answer wins, and no chunk of the other joins it.
    old = [
        ReportPart(**_part(answer="a1", chunk=i, chunks=3, rows=[_row(f"s{i}")])) for i in range(3)
    ]
    new = [
        ReportPart(**_part(answer="b2", chunk=i, chunks=2, rows=[_row(f"t{i}")])) for i in range(2)
    ]
    assembly = Assembly("rows", [3, 4])
    for part in (old[0], new[1], old[2], new[0]):
        assembly.add(part)
    assert assembly.missing() == [4]
    assembly.add(old[1])  # a1 would be whole now, but partition 3 is done
    assembly.add(ReportPart(**_part(partition=4, rows=[_row("u")])))
    assembly.add(ReportPart(**_part(partition=9, rows=[_row("stranger")])))
    assembly.add(ReportPart(**_part(partition=4, phase="watermark", rows=[])))
    assert assembly.missing() == []
    stores = [row[0] for part in assembly.parts() for row in part.rows]
    assert stores == ["t0", "t1", "u"]
