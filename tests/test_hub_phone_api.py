"""Phone activation, binding, login, sessions, HTTPS and lockouts through the real app
(FastAPI TestClient, SQLite file; codes read from the SMS outbox file)."""

import logging
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

import pytest
from fastapi.testclient import TestClient

from biometrics.encoder import FaceEncoder
from hub.phone.config import ThrottleRule
from hub.phone.sms import read_outbox
from tests import phonekit as kit
from tests.browser import ServedApp
from tests.hub_db import sqlite_engine

API = "/phone/api"


@pytest.fixture(scope="module")
def encoder():
    return FaceEncoder()


@pytest.fixture
def hub(tmp_path, encoder):
    """``hub(**phone_settings)`` -> (https client, clock, outbox path); no face templates needed here."""
    engine = sqlite_engine(tmp_path)
    kit.build_world(engine, [])
    clients = []

    def build(address: str = "198.51.100.7", **settings):
        clock = kit.Clock()
        app = kit.make_app(tmp_path, engine, encoder, clock=clock, **settings)
        client = TestClient(app, base_url="https://hub.example", client=(address, 40000))
        clients.append(client)
        return client, clock, tmp_path / "sms-outbox.jsonl"

    yield build
    for client in clients:
        client.close()
    engine.dispose()


def refused(response, code):
    body = response.json()
    assert body.get("reason") == code, body
    assert body["ok"] is False and body["message"]["en"] and body["message"]["hi"]
    return body


def request_code(client, staff=kit.STAFF):
    response = client.post(f"{API}/activation", json={"staff_number": staff})
    assert response.status_code == 200, response.text
    return response.json()["activation_id"]


def activate(client, outbox, staff=kit.STAFF, mobile=kit.MOBILE, password=kit.PASSWORD):
    """The whole activation; returns the headers of the bound, logged-in phone."""
    activation_id = request_code(client, staff)
    verified = client.post(f"{API}/activation/verify",
                           json={"activation_id": activation_id, "code": kit.last_code(outbox, mobile)})
    assert verified.status_code == 200, verified.text
    done = client.post(f"{API}/activation/complete", json={
        "activation_id": activation_id, "setup_token": verified.json()["setup_token"], "password": password})
    assert done.status_code == 200, done.text
    body = done.json()
    return {"Authorization": f"Bearer {body['session_token']}", "X-Phone-Device": body["device_token"]}


def agree(client, headers, language="en"):
    """The person accepts the first-use notice on the phone (what the page does before its first punch)."""
    response = client.post(f"{API}/consent", headers=headers, json={"language": language})
    assert response.status_code == 200 and response.json()["given"], response.text


def login(client, device_token, password=kit.PASSWORD, staff=kit.STAFF):
    return client.post(f"{API}/login", json={"staff_number": staff, "password": password},
                       headers={"X-Phone-Device": device_token} if device_token else {})


# --- transport -------------------------------------------------------------------------------------

def test_plain_http_is_refused_except_from_this_machine(hub):
    client, _, _ = hub()
    for address, base, headers, allowed in [
        ("198.51.100.7", "https://hub.example", {}, True),
        ("198.51.100.7", "http://hub.example", {}, False),
        ("127.0.0.1", "http://127.0.0.1:8080", {}, True),
        ("::1", "http://[::1]:8080", {}, True),
        ("127.0.0.1", "http://hub.example", {"X-Forwarded-For": "203.0.113.9"}, False),  # a local plain proxy
    ]:
        with TestClient(client.app, base_url=base, client=(address, 1234)) as other:
            for method, path in (("GET", "/phone/"), ("POST", f"{API}/activation")):
                response = other.request(method, path, headers=headers, json={"staff_number": "nobody"})
                if allowed:
                    assert response.status_code != 403, (address, base, path)
                else:
                    assert response.status_code == 403, (address, base, path)
                    refused(response, "https_required")


def test_the_hub_app_serves_the_phone_page_with_production_defaults(tmp_path):
    """No test configuration: ``create_app`` alone, as ``hub serve`` builds it."""
    from hub.api import create_app
    from hub.config import HubConfig

    engine = sqlite_engine(tmp_path)
    (tmp_path / "admin.token").write_text("a-long-enough-admin-token-for-tests\n")
    app = create_app(HubConfig(admin_token_file=tmp_path / "admin.token", database_url=str(engine.url)), engine)
    with TestClient(app, base_url="http://hub.example", client=("198.51.100.7", 1)) as remote:
        refused(remote.get("/phone/"), "https_required")
    with TestClient(app, base_url="http://127.0.0.1:8080", client=("127.0.0.1", 1)) as local:
        assert local.get("/phone/").status_code == 200
    assert app.state.phone.config.require_https is True
    engine.dispose()


def test_https_can_be_switched_off_for_a_demo(hub):
    client, _, _ = hub(require_https=False)
    with TestClient(client.app, base_url="http://hub.example", client=("198.51.100.7", 1)) as plain:
        assert plain.get("/phone/").status_code == 200


def test_the_page_and_its_files_are_served_with_a_strict_policy(hub):
    client, _, _ = hub()
    page = client.get("/phone/")
    assert page.status_code == 200 and 'id="punch-btn"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset, kind in (("app.js", "javascript"), ("style.css", "css"), ("manifest.webmanifest", "manifest"),
                        ("icon.svg", "svg")):
        response = client.get(f"/phone/{asset}")
        assert response.status_code == 200 and kind in response.headers["content-type"], asset
    assert client.get("/phone/manifest.webmanifest").json()["start_url"] == "/phone/"
    refused(client.get("/phone/secrets.txt"), "request_invalid")


# --- activation --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("staff", ["NOBODY", "UP1003", "UP1004"])  # unknown, a leaver, no mobile
def test_activation_for_a_number_that_gets_no_code_answers_as_if_sent(hub, staff):
    client, _, outbox = hub()
    response = client.post(f"{API}/activation", json={"staff_number": staff})
    assert response.status_code == 200 and set(response.json()) == {"activation_id", "expires_at"}
    assert read_outbox(outbox) == []
    refused(client.post(f"{API}/activation/verify", json={"activation_id": response.json()["activation_id"],
                                                          "code": "123456"}), "activation_invalid")


def test_the_code_goes_to_the_outbox_file_only(hub, caplog):
    client, _, outbox = hub()
    caplog.set_level(logging.DEBUG)
    response = client.post(f"{API}/activation", json={"staff_number": kit.STAFF})
    assert kit.MOBILE[-4:] not in response.text
    [sms] = read_outbox(outbox)
    code = kit.last_code(outbox)
    assert sms["to"] == kit.MOBILE and code in sms["text"] and "सक्रियण" in sms["text"]
    assert stat.S_IMODE(os.stat(outbox).st_mode) == 0o600
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "activation" in logged and kit.MOBILE not in logged and code not in logged


def test_wrong_codes_count_down_then_the_code_is_void(hub):
    client, _, outbox = hub()
    activation_id = request_code(client)
    right = kit.last_code(outbox)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        body = refused(client.post(f"{API}/activation/verify", json={"activation_id": activation_id, "code": wrong}),
                       "code_wrong")
        assert body["details"]["attempts_left"] == left
    refused(client.post(f"{API}/activation/verify", json={"activation_id": activation_id, "code": wrong}),
            "code_attempts_exhausted")
    refused(client.post(f"{API}/activation/verify", json={"activation_id": activation_id, "code": right}),
            "code_attempts_exhausted")


def test_codes_expire_and_a_new_code_voids_the_old_one(hub):
    client, clock, outbox = hub()
    first = request_code(client)
    first_code = kit.last_code(outbox)
    clock.advance(seconds=601)
    refused(client.post(f"{API}/activation/verify", json={"activation_id": first, "code": first_code}), "code_expired")
    second = request_code(client)
    third = request_code(client)
    refused(client.post(f"{API}/activation/verify", json={"activation_id": second, "code": kit.last_code(outbox)}),
            "activation_invalid")
    ok = client.post(f"{API}/activation/verify", json={"activation_id": third, "code": kit.last_code(outbox)})
    assert ok.status_code == 200
    refused(client.post(f"{API}/activation/verify", json={"activation_id": third, "code": kit.last_code(outbox)}),
            "activation_invalid")  # a code works once
    refused(client.post(f"{API}/activation/verify", json={"activation_id": "x" * 43, "code": "123456"}),
            "activation_invalid")


def test_sms_sends_are_limited_per_requester_and_per_address(hub):
    client, clock, _ = hub()
    for _ in range(3):
        request_code(client)
    response = client.post(f"{API}/activation", json={"staff_number": kit.STAFF})
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 3000
    refused(response, "sms_limit")
    clock.advance(hours=1, seconds=1)
    request_code(client)

    client, _, _ = hub(address="192.0.2.44",
                       sms_per_address=ThrottleRule(max_failures=3, window_s=3600, lockout_s=3600))
    for staff in ("NOBODY1", "NOBODY2", "NOBODY3"):  # numbers that get no code are charged to the address too
        request_code(client, staff)
    refused(client.post(f"{API}/activation", json={"staff_number": "UP1002"}), "sms_limit")


def test_setting_the_password(hub):
    client, clock, outbox = hub()
    activation_id = request_code(client)
    setup = client.post(f"{API}/activation/verify",
                        json={"activation_id": activation_id, "code": kit.last_code(outbox)}).json()["setup_token"]
    complete = lambda token, password: client.post(  # noqa: E731
        f"{API}/activation/complete", json={"activation_id": activation_id, "setup_token": token, "password": password})
    refused(complete("y" * 43, kit.PASSWORD), "setup_invalid")
    for password, code in (("short1", "password_too_short"), ("Welcome@2025", "password_common"),
                           ("UP1001-is-me", "password_contains_identity"), ("abcdefghijkl", "password_too_simple")):
        refused(complete(setup, password), code)
    clock.advance(seconds=901)
    refused(complete(setup, kit.PASSWORD), "setup_invalid")


def test_a_new_activation_revokes_the_old_phone(hub):
    client, _, outbox = hub()
    old = activate(client, outbox)
    assert client.get(f"{API}/me", headers=old).json()["name"] == "Asha Verma"
    new = activate(client, outbox, password="Naya-phone-2026")
    refused(client.get(f"{API}/me", headers=old), "phone_not_bound")
    refused(login(client, old["X-Phone-Device"], "Naya-phone-2026"), "phone_not_bound")
    assert client.get(f"{API}/me", headers=new).status_code == 200
    assert login(client, new["X-Phone-Device"], "Naya-phone-2026").status_code == 200
    refused(login(client, new["X-Phone-Device"], kit.PASSWORD), "login_failed")  # the old password went too



def test_admins_see_the_binding_never_the_token(hub, tmp_path):
    """What the console's person page shows: bound or not, the browser, when; old phones counted."""
    client, _, outbox = hub()
    admin = {"Authorization": f"Bearer {(tmp_path / 'admin.token').read_text().strip()}"}
    path = f"/api/v1/phone/bindings/{kit.STAFF}"
    before = client.get(path, headers=admin).json()
    assert (before["bound"], before["password_set_at"], before["revoked"]) == (False, None, 0)
    activate(client, outbox)
    phone = activate(client, outbox, password="Naya-phone-2026")
    after = client.get(path, headers=admin).json()
    assert (after["bound"], after["revoked"]) == (True, 1) and after["bound_at"] and after["password_set_at"]
    assert phone["X-Phone-Device"] not in str(after)
    assert client.get("/api/v1/phone/bindings/NOBODY", headers=admin).status_code == 404
    assert client.get(path, headers=phone).status_code == 401  # a phone session is no admin

# --- login and sessions ---------------------------------------------------------------------------------------

def test_login_needs_the_bound_phone_and_the_password(hub):
    client, _, outbox = hub()
    device = activate(client, outbox)["X-Phone-Device"]
    ok = login(client, device)
    assert ok.status_code == 200 and ok.json()["employee_id"] == kit.STAFF
    refused(login(client, None), "phone_not_bound")
    refused(login(client, "z" * 43), "phone_not_bound")
    refused(login(client, device, "Wrong-password-1"), "login_failed")
    refused(login(client, device, staff="NOBODY"), "login_failed")
    refused(login(client, device, staff="UP1002"), "phone_not_bound")  # bound to another employee


def test_sessions_expire_and_end_at_logout(hub):
    client, clock, outbox = hub()
    headers = activate(client, outbox)
    refused(client.get(f"{API}/me"), "session_missing")
    refused(client.get(f"{API}/me", headers={**headers, "Authorization": "Bearer " + "q" * 43}), "session_invalid")
    refused(client.get(f"{API}/me", headers={"Authorization": headers["Authorization"]}), "phone_not_bound")
    clock.advance(hours=12, seconds=1)
    response = client.get(f"{API}/me", headers=headers)
    assert response.status_code == 401
    refused(response, "session_expired")
    fresh = login(client, headers["X-Phone-Device"]).json()
    headers["Authorization"] = f"Bearer {fresh['session_token']}"
    assert client.post(f"{API}/logout", headers=headers).status_code == 200
    refused(client.get(f"{API}/me", headers=headers), "session_invalid")


def test_a_leaver_is_shut_out(hub):
    from hub.db import Employee

    client, _, outbox = hub()
    headers = activate(client, outbox)
    with client.app.state.session_factory() as session:
        session.get(Employee, kit.STAFF).active = False
        session.commit()
    refused(client.get(f"{API}/me", headers=headers), "employee_inactive")
    refused(login(client, headers["X-Phone-Device"]), "employee_inactive")


# --- brute force ---------------------------------------------------------------------------------------------------

def test_password_brute_force_locks_the_staff_number(hub):
    """Five wrong passwords lock the staff number for 15 minutes: then even the right password
    is refused without being checked; after the lock it works again."""
    client, clock, outbox = hub()
    device = activate(client, outbox)["X-Phone-Device"]
    for guess in range(5):
        refused(login(client, device, f"Guess-number-{guess}"), "login_failed")
    locked = login(client, device)
    assert locked.status_code == 429 and locked.headers["retry-after"] == "900"
    assert refused(locked, "locked_out")["details"]["minutes"] == 15
    clock.advance(minutes=14)
    refused(login(client, device), "locked_out")
    clock.advance(minutes=1, seconds=1)
    assert login(client, device).status_code == 200


def test_guessing_from_one_address_locks_that_address(hub):
    client, _, outbox = hub(login_per_address=ThrottleRule(max_failures=6, window_s=900, lockout_s=900))
    device = activate(client, outbox)["X-Phone-Device"]
    for staff in ("A1", "A2", "A3", "A4", "A5", "A6"):  # a different staff number each time
        refused(login(client, device, staff=staff), "login_failed")
    refused(login(client, device), "locked_out")
    with TestClient(client.app, base_url="https://hub.example", client=("192.0.2.99", 1)) as elsewhere:
        assert login(elsewhere, device).status_code == 200


def test_code_guessing_across_new_codes_locks_the_staff_number(hub):
    client, _, outbox = hub(code_per_employee=ThrottleRule(max_failures=7, window_s=3600, lockout_s=3600))
    for _ in range(2):
        activation_id = request_code(client)
        wrong = f"{(int(kit.last_code(outbox)) + 1) % 1_000_000:06d}"
        for _ in range(5):
            response = client.post(f"{API}/activation/verify", json={"activation_id": activation_id, "code": wrong})
            if response.json()["reason"] == "locked_out":
                break
    activation_id = request_code(client)
    refused(client.post(f"{API}/activation/verify", json={"activation_id": activation_id,
                                                          "code": kit.last_code(outbox)}), "locked_out")


def in_parallel(app, count: int, send) -> list[httpx.Response]:
    """``send(client, i)`` from ``count`` threads at once over real HTTP (uvicorn on 127.0.0.1)."""
    start = threading.Barrier(count)

    def one(i: int) -> httpx.Response:
        with httpx.Client(base_url=served.url, timeout=120) as client:
            start.wait(60)
            return send(client, i)

    with ServedApp(app) as served, ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def test_parallel_password_guesses_cannot_outrun_the_lockout(hub):
    client, _, outbox = hub()
    device = activate(client, outbox)["X-Phone-Device"]
    answers = in_parallel(client.app, 12, lambda c, i: c.post(
        f"{API}/login", json={"staff_number": kit.STAFF, "password": f"Guess-number-{i}"},
        headers={"X-Phone-Device": device}))
    reasons = sorted(a.json()["reason"] for a in answers)
    assert reasons == ["locked_out"] * 7 + ["login_failed"] * 5


def test_parallel_code_guesses_cannot_outrun_the_attempt_limit(hub):
    from sqlalchemy import select

    from hub.phone.models import PhoneActivation

    client, _, outbox = hub()
    activation_id = request_code(client)
    wrong = f"{(int(kit.last_code(outbox)) + 1) % 1_000_000:06d}"
    answers = in_parallel(client.app, 12, lambda c, i: c.post(
        f"{API}/activation/verify", json={"activation_id": activation_id, "code": wrong}))
    reasons = [a.json()["reason"] for a in answers]
    assert reasons.count("code_wrong") == 4 and reasons.count("code_attempts_exhausted") == 8
    with client.app.state.session_factory() as session:
        assert session.scalars(select(PhoneActivation)).one().attempts == 5
