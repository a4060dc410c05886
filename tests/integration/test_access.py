"""Access control on the running stack: every route without a token, with the wrong scope
and with the right one; page sessions; the loopback rule; the ingestion rate; the token
file read again while the API runs; no CORS grant; Kafka over SASL with an unauthenticated
client refused."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from api import tokens
from replay.synthetic import generate
from storemon.localkafka import LocalKafka
from storemon.processes import STOREMON, free_port, settings_env
from streams import kafka
from streams.settings import ROOT, Settings
from tests.integration.conftest import KAFKA_PORT, Stack, assert_same_report, offline_csv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

POLL = {"store_id": "acl-1", "status": "active", "timestamp_utc": "2023-01-25T10:00:00Z"}
ROUTES: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("POST", "/polls", tokens.INGEST, POLL),
    ("PUT", "/stores/acl-1/hours", tokens.INGEST, {"shifts": []}),
    ("PUT", "/stores/acl-1/timezone", tokens.INGEST, {"timezone": "UTC"}),
    ("GET", "/trigger_report", tokens.REPORT, None),
    ("POST", "/trigger_report", tokens.REPORT, None),
    ("GET", "/get_report?report_id={report_id}", tokens.REPORT, None),
    ("GET", "/store/acl-1/trigger_report/", tokens.REPORT, None),
    ("GET", "/store/acl-1/trigger_report", tokens.REPORT, None),
    ("POST", "/store/get_report/", tokens.REPORT, {"report_id": "{report_id}"}),
    ("POST", "/store/get_report", tokens.REPORT, {"report_id": "{report_id}"}),
    ("GET", "/reports", tokens.REPORT, None),
    ("GET", "/stores/acl-1", tokens.REPORT, None),
    ("GET", "/stores/acl-1.svg", tokens.REPORT, None),
    ("GET", "/stores/acl-1/incidents", tokens.REPORT, None),
    ("GET", "/stores/acl-1/history", tokens.REPORT, None),
    ("GET", "/alerts", tokens.REPORT, None),
    ("GET", "/metrics", tokens.METRICS, None),
    ("GET", "/", tokens.METRICS, None),
]
"""Every route behind a token, the scope it needs, and a valid body."""
OPEN = ["/livez", "/readyz", "/openapi.json", "/docs"]
WRONG = {tokens.INGEST: tokens.REPORT, tokens.REPORT: tokens.METRICS, tokens.METRICS: tokens.INGEST}


def _call(url: str, method: str, path: str, body: Any, **headers: str) -> httpx.Response:
    return httpx.request(method, f"{url}{path}", json=body, headers=headers, timeout=30)


@pytest.fixture
def secured(stack: Stack, tmp_path: Path) -> tuple[Stack, str, dict[str, str]]:
    """A stack whose API has a token per scope (and an admin one); yields its URL."""
    auth = tmp_path / "tokens.json"
    made = {scope: tokens.create(auth, scope, scope) for scope in tokens.SCOPES}
    stack.settings = stack.settings.model_copy(update={"auth_file": auth})
    stack.worker("worker-1")
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    return stack, url, made


def test_every_route_without_a_token_with_the_wrong_scope_and_with_the_right_one(
    secured: tuple[Stack, str, dict[str, str]],
) -> None:
    stack, url, made = secured
    admin = {"Authorization": f"Bearer {made[tokens.ADMIN]}"}
    report_id = _call(url, "POST", "/trigger_report", None, **admin).json()["report_id"]
    assert _call(url, "POST", "/polls", POLL, **admin).status_code == 202
    deadline = time.monotonic() + 60  # the store's views need its poll processed
    while _call(url, "GET", "/stores/acl-1/incidents", None, **admin).status_code != 200:
        assert time.monotonic() < deadline, "the poll never reached the store's partition"
        time.sleep(0.3)
    for method, template, scope, given in ROUTES:
        path = template.format(report_id=report_id)
        body = given and {k: report_id if v == "{report_id}" else v for k, v in given.items()}
        none = _call(url, method, path, body)
        assert none.status_code == 401, (method, path, none.text)
        assert none.headers["www-authenticate"].startswith("Bearer")
        assert "token" in none.json()["error"]
        unknown = _call(url, method, path, body, Authorization="Bearer smt_not-a-token")
        assert unknown.status_code == 401, (method, path)
        wrong = _call(url, method, path, body, Authorization=f"Bearer {made[WRONG[scope]]}")
        assert wrong.status_code == 403, (method, path, wrong.text)
        assert scope in wrong.json()["error"]
        for right in (made[scope], made[tokens.ADMIN]):
            got = _call(url, method, path, body, Authorization=f"Bearer {right}")
            assert got.status_code < 300, (method, path, got.status_code, got.text)
    for path in OPEN:
        assert _call(url, "GET", path, None).status_code in (200, 503), path
    assert "Traceback" not in stack.log("api")


def test_a_browser_signs_in_once_and_its_session_reads_but_never_writes(
    secured: tuple[Stack, str, dict[str, str]],
) -> None:
    stack, url, made = secured
    page = httpx.get(f"{url}/", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 401
    assert 'id="sign-in"' in page.text  # the page asks for a token
    with httpx.Client(base_url=url, timeout=10) as browser:
        assert browser.post("/session", json={"token": "smt_wrong"}).status_code == 401
        signed = browser.post("/session", json={"token": made[tokens.METRICS]})
        assert signed.status_code == 200
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert browser.get("/").status_code == 200
        assert 'id="total-lag"' in browser.get("/").text
        assert browser.get("/metrics").status_code == 200
        assert browser.get("/reports").status_code == 403  # metrics only
        # A session is no token for writes: a cross-site form could otherwise use it.
        admin = browser.post("/session", json={"token": made[tokens.ADMIN]})
        assert admin.status_code == 200
        assert browser.post("/polls", json=POLL).status_code == 401
        assert browser.get("/reports").status_code == 200
        tokens.revoke(stack.settings.auth_file or Path(), tokens.ADMIN)  # ends its sessions
        time.sleep(1.5)
        assert browser.get("/reports").status_code == 401
        assert browser.delete("/session").status_code == 204


def test_the_token_file_is_read_again_while_the_api_runs(
    secured: tuple[Stack, str, dict[str, str]],
) -> None:
    stack, url, made = secured
    auth = stack.settings.auth_file
    assert auth is not None
    bearer = {"Authorization": f"Bearer {made[tokens.REPORT]}"}
    assert _call(url, "GET", "/reports", None, **bearer).status_code == 200
    tokens.revoke(auth, tokens.REPORT)
    fresh = tokens.create(auth, "rotated", tokens.REPORT)
    time.sleep(1.5)
    assert _call(url, "GET", "/reports", None, **bearer).status_code == 401
    assert _call(url, "GET", "/reports", None, Authorization=f"Bearer {fresh}").status_code == 200


def _report_rows(url: str, bearer: dict[str, str], **params: str) -> tuple[str, list[str]]:
    """Trigger a report with ``bearer`` and wait for it: its id and its CSV's store ids."""
    triggered = httpx.post(f"{url}/trigger_report", params=params, headers=bearer, timeout=30)
    assert triggered.status_code == 200, triggered.text
    report_id = triggered.json()["report_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        got = httpx.get(
            f"{url}/get_report", params={"report_id": report_id}, headers=bearer, timeout=30
        )
        assert got.status_code == 200, got.text
        if got.headers.get("X-Report-Status") == "Complete":
            lines = got.text.splitlines()
            assert lines[0].startswith("store_id,")
            return report_id, sorted(line.split(",", 1)[0] for line in lines[1:])
        time.sleep(0.2)
    raise AssertionError("the report did not complete in 120 s")


def test_a_tenant_token_gets_exactly_its_stores_in_every_route(
    secured: tuple[Stack, str, dict[str, str]],
) -> None:
    stack, url, made = secured
    auth = stack.settings.auth_file
    assert auth is not None
    admin = {"Authorization": f"Bearer {made[tokens.ADMIN]}"}
    ours, theirs = ["own-1", "own-2", "lone"], ["acl-1", "rival-1"]
    polls = [dict(POLL, store_id=s) for s in ours + theirs]
    assert _call(url, "POST", "/polls", polls, **admin).status_code == 202
    tenant = tokens.Tenant("acme", frozenset({"lone"}), ("own-",))
    owner = {"Authorization": f"Bearer {tokens.create(auth, 'owner', 'ingest,report', tenant)}"}
    deadline = time.monotonic() + 60  # every store's poll processed, the token file read
    while (
        not all(
            _call(url, "GET", f"/stores/{s}/incidents", None, **admin).status_code == 200
            for s in ours + theirs
        )
        or _call(url, "GET", "/reports", None, **owner).status_code != 200
    ):
        assert time.monotonic() < deadline, "the polls never reached the stores' partitions"
        time.sleep(0.3)

    # Reports: the full report holds its stores' rows only; other stores are not found.
    _, everyone = _report_rows(url, admin)
    assert set(ours + theirs) <= set(everyone)
    report_id, rows = _report_rows(url, owner)
    assert rows == sorted(ours)
    for form in ("POST", "GET"):  # the compatible form filters the same
        body = {"report_id": report_id} if form == "POST" else None
        path = "/store/get_report" if form == "POST" else f"/get_report?report_id={report_id}"
        seen = _call(url, form, path, body, **owner).text.splitlines()[1:]
        assert sorted(line.split(",", 1)[0] for line in seen) == sorted(ours), form
    _, one = _report_rows(url, owner, store_id="own-2")
    assert one == ["own-2"]
    _, monthly = _report_rows(url, owner, month="2023-01")  # the monthly report too
    assert monthly == sorted(ours)
    _, everyone_monthly = _report_rows(url, admin, month="2023-01")
    assert set(ours + theirs) <= set(everyone_monthly)
    rival_report, _ = _report_rows(url, admin, store_id="rival-1")
    listed = _call(url, "GET", "/reports?limit=500", None, **owner).json()
    assert rival_report not in {r["report_id"] for r in listed}  # another store's report
    assert report_id in {r["report_id"] for r in listed}
    assert all(r["rows"] is None for r in listed)

    # Every route about one store: its own answer 2xx, another's 404 as an unknown store's.
    views = ["/stores/{s}", "/stores/{s}.svg", "/stores/{s}/incidents", "/stores/{s}/history",
             "/store/{s}/trigger_report", "/store/{s}/trigger_report/",
             "/trigger_report?store_id={s}", "/trigger_report?month=2023-01&store_id={s}",
             "/alerts?store_id={s}"]  # fmt: skip
    for view in views:
        for s in ours:
            got = _call(url, "GET", view.format(s=s), None, **owner)
            assert got.status_code == 200, (view, s, got.text)
        for s in [*theirs, "never-polled"]:
            hidden = _call(url, "GET", view.format(s=s), None, **owner)
            assert hidden.status_code == 404, (view, s, hidden.text)
            assert hidden.json() == {"error": f"store {s!r} has no polls in the pipeline"}
    alerts = _call(url, "GET", "/alerts?limit=1000", None, **owner)
    assert alerts.status_code == 200
    assert all(tenant.covers(a["subject"]) for a in alerts.json())

    # Writes: its own stores accepted; any other store refused whole, and named.
    assert _call(url, "POST", "/polls", [dict(POLL, store_id="own-9")], **owner).status_code == 202
    mixed = _call(url, "POST", "/polls", [dict(POLL, store_id="own-3"), POLL], **owner)
    assert mixed.status_code == 403
    assert "'acl-1'" in mixed.json()["error"]
    assert "own-3" not in mixed.json()["error"]
    for path, body in (("hours", {"shifts": []}), ("timezone", {"timezone": "UTC"})):
        assert _call(url, "PUT", f"/stores/own-1/{path}", body, **owner).status_code == 202
        refused = _call(url, "PUT", f"/stores/rival-1/{path}", body, **owner)
        assert refused.status_code == 403, (path, refused.text)
        assert "'rival-1'" in refused.json()["error"]
    assert _call(url, "GET", "/metrics", None, **owner).status_code == 403
    assert "Traceback" not in stack.log("api")


def test_no_cors_grant_to_any_origin(secured: tuple[Stack, str, dict[str, str]]) -> None:
    _stack, url, made = secured
    origin = {"Origin": "https://evil.example", "Authorization": f"Bearer {made[tokens.ADMIN]}"}
    got = _call(url, "GET", "/reports", None, **origin)
    assert "access-control-allow-origin" not in got.headers
    preflight = httpx.options(
        f"{url}/polls",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code == 405


def test_ingestion_is_rate_limited_per_token(stack: Stack, tmp_path: Path) -> None:
    auth = tmp_path / "tokens.json"
    fast, other = tokens.create(auth, "fast", "ingest"), tokens.create(auth, "other", "ingest")
    stack.settings = stack.settings.model_copy(
        update={"auth_file": auth, "ingest_rate_per_s": 1.0, "ingest_burst": 3}
    )
    stack.worker("worker-1")
    url = stack.start_api()
    stack.wait_worker_ready("worker-1")
    codes = [_call(url, "POST", "/polls", POLL, Authorization=f"Bearer {fast}") for _ in range(6)]
    assert [c.status_code for c in codes[:3]] == [202, 202, 202]
    refused = [c for c in codes if c.status_code == 429]
    assert len(refused) >= 2
    assert int(refused[0].headers["retry-after"]) >= 1
    assert "ingestion requests a second" in refused[0].json()["error"]
    # Another token has a bucket of its own; the first one's refills.
    assert _call(url, "POST", "/polls", POLL, Authorization=f"Bearer {other}").status_code == 202
    time.sleep(int(refused[-1].headers["retry-after"]) + 0.2)
    assert _call(url, "POST", "/polls", POLL, Authorization=f"Bearer {fast}").status_code == 202


def test_without_tokens_the_api_listens_on_loopback_only(tmp_path: Path) -> None:
    settings = Settings(reports_dir=tmp_path / "reports", bootstrap_servers="127.0.0.1:1")
    refused = subprocess.run(
        [STOREMON, "api", "--host", "0.0.0.0", "--port", str(free_port())],
        env=settings_env(settings), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "STOREMON_AUTH_FILE" in refused.stderr
    auth = tmp_path / "tokens.json"
    tokens.create(auth, "ops", "metrics")
    port = free_port()
    served = subprocess.Popen(
        [STOREMON, "api", "--host", "0.0.0.0", "--port", str(port)],
        env=settings_env(settings.model_copy(update={"auth_file": auth})),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                got = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        assert got.status_code == 401  # listening on every interface, behind tokens
    finally:
        served.terminate()
        served.wait(30)


SECURE_PORT = KAFKA_PORT + 1000  # below the ephemeral range, as conftest says


@pytest.fixture(scope="module")
def scenario_small(loop_2023: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    g = generate(loop_2023, tmp_path_factory.mktemp("sasl"), stores=150, days=2, seed=17)
    return {"status": g.status, "hours": g.hours, "timezones": g.timezones}


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A second local Kafka whose only client listener is SASL_PLAINTEXT (SCRAM, PLAIN)."""
    settings = Settings(
        bootstrap_servers=f"127.0.0.1:{SECURE_PORT}", controller_port=SECURE_PORT + 1,
        local_dir=ROOT / ".local",
    )  # fmt: skip
    local = LocalKafka(settings, home=tmp_path_factory.mktemp("secure-kafka"))
    local.up(fresh=True, secure=True)
    try:
        yield local
    finally:
        local.down()


async def _refused(settings: Settings) -> str:
    producer = kafka.producer(settings, request_timeout_ms=5_000)
    try:
        await asyncio.wait_for(producer.start(), 30)
    except Exception as exc:  # the broker closes the connection: no metadata, no send
        return f"{type(exc).__name__}: {exc}"
    finally:
        await producer.stop()
    return ""


def test_the_pipeline_through_a_sasl_listener_and_strangers_refused(
    secure_broker: LocalKafka, scenario_small: dict[str, Path], tmp_path: Path
) -> None:
    client = secure_broker.client_settings()
    stack = Stack(secure_broker.settings.bootstrap_servers, tmp_path)
    stack.settings = stack.settings.model_copy(
        update={k: getattr(client, k) for k in Settings.model_fields if k.startswith("kafka_")}
    )
    try:
        stack.worker("worker-1")
        url = stack.start_api()
        stack.wait_worker_ready("worker-1")
        stack.replay(scenario_small)
        stack.wait_caught_up()
        assert_same_report(stack.report(), offline_csv(scenario_small))
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
    finally:
        stack.stop_all()
    plain = secure_broker.settings  # no credentials at all
    assert asyncio.run(_refused(plain))
    wrong = client.model_copy(update={"kafka_sasl_password": SecretStr("guessed")})
    assert asyncio.run(_refused(wrong))
    for mechanism in ("PLAIN", "SCRAM-SHA-512"):  # both mechanisms let the right user in
        right = client.model_copy(update={"kafka_sasl_mechanism": mechanism})
        assert asyncio.run(_refused(right)) == ""
