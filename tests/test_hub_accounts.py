"""Users, passwords and sessions: one-time passwords, first-login change, cookies, expiry, login limits."""

import re
import secrets
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import select

from hub.accounts import passwords
from hub.accounts.models import AuthSession, User
from hub.cli import main
from hub.db import utcnow
from hub.errors import InvalidInput
from tests.hub_api_kit import PASSWORD, HubApi
from tests.hub_db import any_engine, sqlite_engine  # noqa: F401  (fixture)

OTP = re.compile(r"^[2-9a-zA-Z]{4}(-[2-9a-zA-Z]{4}){3}$")


@pytest.fixture
def hub(tmp_path, any_engine):
    api = HubApi(tmp_path, any_engine, auth={"max_failures_per_user": 5, "max_failures_per_address": 12,
                                             "failure_window_s": 600, "session_ttl_s": 3600})
    yield api
    api.close()


def test_passwords_are_argon2id_and_one_time_passwords_are_random():
    digest = passwords.hash_password("s3cret-enough")
    assert digest.startswith("$argon2id$") and "s3cret-enough" not in digest
    assert passwords.verify_password(digest, "s3cret-enough")
    assert not passwords.verify_password(digest, "s3cret-enougH")
    assert not passwords.verify_password("not a hash", "x")
    made = {passwords.one_time_password() for _ in range(50)}
    assert len(made) == 50 and all(OTP.match(p) for p in made)


@pytest.mark.parametrize("new, why", [
    ("short", "at least 10"), ("alice-password", "user name"), ("aaaaaaaaaaaa", "4 different"),
])
def test_weak_new_passwords_are_refused(new, why):
    with pytest.raises(InvalidInput, match=why):
        passwords.check_new_password(new, username="alice")


def test_admin_create_prints_a_one_time_password_that_must_be_changed(tmp_path, capsys):
    token = tmp_path / "admin.token"
    token.write_text(secrets.token_urlsafe(32))
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"database_url": f"sqlite:///{tmp_path / 'hub.sqlite'}",
                                      "admin_token_file": str(token), "auth": {"cookie_secure": False}}))
    assert main(["init-db", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["admin", "create", "--config", str(config), "Root.Admin"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("user root.admin: one-time password") and OTP.match(out[1])
    assert main(["admin", "create", "--config", str(config), "root.admin"]) == 1
    assert "exists" in capsys.readouterr().err

    engine = sqlite_engine(tmp_path)  # the same file: already migrated
    api = HubApi(tmp_path, engine)
    with api.sessions() as session:
        user = session.scalar(select(User))
        assert (user.role, user.must_change_password) == ("admin", True)
        assert out[1] not in user.password_hash and user.password_hash.startswith("$argon2id$")
    client = api.login("root.admin", out[1])
    assert client.get("/api/v1/auth/me").json()["must_change_password"] is True
    refused = client.get("/api/v1/employees")
    assert refused.status_code == 403 and "one-time password" in refused.json()["detail"]
    weak = client.post("/api/v1/auth/password", json={"current_password": out[1], "new_password": "short"})
    assert weak.status_code == 422
    wrong = client.post("/api/v1/auth/password", json={"current_password": "nope", "new_password": PASSWORD})
    assert wrong.status_code == 403
    assert client.post("/api/v1/auth/password", json={"current_password": out[1],
                                                      "new_password": PASSWORD}).status_code == 204
    assert client.get("/api/v1/employees").status_code == 200  # the same session goes on
    assert api.client().post("/api/v1/auth/login", json={"username": "root.admin",
                                                          "password": out[1]}).status_code == 401
    assert api.login("root.admin").get("/api/v1/auth/me").json()["must_change_password"] is False
    api.close()
    engine.dispose()


def test_login_sets_an_http_only_cookie_that_works_until_logout(hub):
    hub.user_client("alice", "admin")
    browser = hub.client()
    response = browser.post("/api/v1/auth/login", json={"username": "ALICE", "password": PASSWORD})
    assert response.status_code == 200 and response.json()["role"] == "admin"
    cookie = response.headers["set-cookie"]
    assert "hub_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert browser.get("/api/v1/auth/me").json()["username"] == "alice"  # by cookie, no header
    assert browser.post("/api/v1/auth/logout").status_code == 204
    assert browser.get("/api/v1/auth/me").status_code == 401
    token = response.json()["token"]
    assert hub.client(token).get("/api/v1/auth/me").status_code == 401  # the token died with the session


def test_sessions_expire(hub):
    client = hub.user_client("bob", "admin")
    assert client.get("/api/v1/auth/me").status_code == 200
    hub.app.state.clock = lambda: utcnow() + timedelta(seconds=3601)
    expired = client.get("/api/v1/auth/me")
    assert expired.status_code == 401 and expired.headers["www-authenticate"] == "Bearer"


def test_brute_force_refuses_the_guessing_address_then_the_window_releases_it(hub):
    hub.user_client("carol", "admin")
    attacker = hub.client(address="203.0.113.7")
    codes = [attacker.post("/api/v1/auth/login", json={"username": "carol", "password": f"guess-{i}"}).status_code
             for i in range(8)]
    assert codes == [401] * 5 + [429] * 3
    # refused from that address, even with the right password; other addresses are not locked out
    locked = attacker.post("/api/v1/auth/login", json={"username": "carol", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert hub.login("carol", address="198.51.100.1").get("/api/v1/auth/me").status_code == 200
    hub.app.state.clock = lambda: utcnow() + timedelta(seconds=601)  # the failures age out of the window
    assert hub.login("carol", address="203.0.113.7").get("/api/v1/auth/me").status_code == 200


def test_one_address_guessing_many_user_names_is_locked_out(hub):
    hub.user_client("dave", "admin")
    attacker = hub.client(address="203.0.113.9")
    codes = [attacker.post("/api/v1/auth/login", json={"username": f"user{i}", "password": "x"}).status_code
             for i in range(14)]
    assert codes == [401] * 12 + [429] * 2
    assert attacker.post("/api/v1/auth/login", json={"username": "dave", "password": PASSWORD}).status_code == 429
    assert hub.login("dave", address="192.0.2.1").get("/api/v1/auth/me").status_code == 200  # others unaffected


def test_a_success_clears_the_user_count_not_the_address_count(hub):
    hub.user_client("erin", "admin")
    client = hub.client(address="192.0.2.50")
    for _ in range(4):
        assert client.post("/api/v1/auth/login", json={"username": "erin", "password": "no"}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": "erin", "password": PASSWORD}).status_code == 200
    for _ in range(4):  # four more wrong ones: the user count started again
        assert client.post("/api/v1/auth/login", json={"username": "erin", "password": "no"}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": "erin", "password": PASSWORD}).status_code == 200


def test_admin_resets_and_deactivates_users_and_their_sessions_end(hub):
    admin = hub.user_client("frank", "admin")
    user = hub.user_client("grace", "admin")
    reset = admin.post("/api/v1/users/grace/reset-password")
    assert reset.status_code == 200 and OTP.match(reset.json()["one_time_password"])
    assert user.get("/api/v1/auth/me").status_code == 401
    again = hub.login("grace", reset.json()["one_time_password"])
    assert again.get("/api/v1/auth/me").json()["must_change_password"] is True
    assert admin.patch("/api/v1/users/grace", json={"active": False}).json()["active"] is False
    assert again.get("/api/v1/auth/me").status_code == 401
    with hub.sessions() as session:
        assert session.scalars(select(AuthSession).join(User).where(User.username == "grace")).all() == []


def test_the_machine_token_is_an_admin_without_a_password(hub):
    machine = hub.machine
    assert machine.get("/api/v1/auth/me").json() == {
        "username": "token:admin", "role": "admin", "employee_id": None, "unit_ids": [],
        "must_change_password": False}
    assert machine.get("/api/v1/users").status_code == 200
    assert machine.post("/api/v1/auth/password", json={"current_password": "a",
                                                       "new_password": PASSWORD}).status_code == 403


def test_users_are_created_with_a_valid_role_setup(hub):
    admin = hub.machine
    assert admin.post("/api/v1/users", json={"username": "x", "role": "admin"}).status_code == 422
    assert admin.post("/api/v1/users", json={"username": "hank", "role": "boss"}).status_code == 422
    assert admin.post("/api/v1/users", json={"username": "hank", "role": "unit_officer"}).status_code == 422
    assert admin.post("/api/v1/users", json={"username": "hank", "role": "unit_officer",
                                             "unit_ids": ["NOPE"]}).status_code == 404
    assert admin.post("/api/v1/users", json={"username": "hank", "role": "employee"}).status_code == 422
    created = admin.post("/api/v1/users", json={"username": "hank", "role": "admin"})
    assert created.status_code == 201 and created.json()["user"]["must_change_password"] is True
    assert admin.post("/api/v1/users", json={"username": "Hank", "role": "admin"}).status_code == 409
