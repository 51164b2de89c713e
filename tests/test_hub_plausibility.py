"""Punches a stolen kiosk key could sign: judged at intake (hub.ingest.plausibility), pure and through a real broker.

The pure rules are tables; the broker tests run the real ingest worker
against a real Mosquitto and sign every punch with a real device key, as a
kiosk (or someone holding its card) would.
"""

import json
from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy import select

from hub.db import Employee, PunchRecord
from hub.devices import registry
from hub.ingest import intake, plausibility
from hub.ingest.plausibility import (
    BACKDATED,
    CLOCK_SKEW,
    SEQ_GAP,
    SEQ_REUSED,
    DeviceClock,
    Flag,
    Policy,
    SeqBook,
)
from hub.ingest.punches import ReceivedMessage, store_decisions
from protocol import messages, signing, topics
from tests.hub_api_kit import HubApi
from tests.hub_db import any_engine  # noqa: F401  (fixture)
from tests.polling import wait_until
from tests.punchkit import IST, KioskLink, signed_punch, to_payload
from tests.test_hub_ingest import DEVICE, KEY, SITE, Hub

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)
DAY = 86400.0
POLICY = Policy(max_clock_skew_s=300, max_future_s=600, max_backlog_s=30 * DAY, max_distance=0.52,
                site_max_distance={"site-strict": 0.45}, device_max_distance={"kiosk-loose": 0.6})


def punch(ahead_s: float = 0.0, **over) -> messages.Punch:
    """A signed punch dated ``ahead_s`` after NOW (the hub's receive time in these tables)."""
    ts = messages.device_time(NOW + timedelta(seconds=ahead_s))
    return messages.validate(messages.Punch, signed_punch(KEY, DEVICE, SITE, "E1", ts=ts, **over))


def clock(skew_s: float, health_ago_s: float = 30.0, waiting_s: float | None = 0.0) -> DeviceClock:
    return DeviceClock(skew_s, NOW - timedelta(seconds=health_ago_s), waiting_s)


def kinds(verdict) -> tuple[str, ...] | str:
    return verdict if isinstance(verdict, str) else tuple(f.kind for f in verdict)


# --- the rules (pure) ----------------------------------------------------------------


@pytest.mark.parametrize("ahead_s, device_clock, expected", [
    (0, None, ()),                                            # in step, no health yet
    (-3 * DAY, None, ()),                                     # three days offline: a backlog, not a clock
    (-3 * DAY, clock(0, waiting_s=4 * DAY), ()),              # ... and the kiosk said it held punches that old
    (-DAY, clock(0, waiting_s=0), (BACKDATED,)),              # yesterday 09:00, yet the outbox was empty at health
    (-DAY, clock(0, health_ago_s=2 * DAY), ()),               # made after its last health: offline since
    (-3604, clock(-3604), (CLOCK_SKEW,)),                     # the kiosk is an hour behind (issue 21)
    (-3604, clock(-3604, waiting_s=None), (CLOCK_SKEW,)),
    (DAY, clock(DAY), (CLOCK_SKEW,)),                         # a day ahead, as its health said
    (400, None, (CLOCK_SKEW,)),                               # dated after its receipt: no outbox explains that
    (400, clock(400), (CLOCK_SKEW,)),
    (200, clock(0), ()),                                      # within the bound
    (0, clock(-3604), (CLOCK_SKEW,)),                         # clock fixed since its health: kept, flagged
    (0, clock(DAY), (CLOCK_SKEW,)),                           # ... the other way: not back-dated by both clocks
    (601, None, plausibility.FUTURE_TS),
    (10 * 365 * DAY, clock(0), plausibility.FUTURE_TS),       # ten years ahead
    (-31 * DAY, None, plausibility.TOO_OLD),
    (datetime(1971, 1, 1, tzinfo=timezone.utc).timestamp() - NOW.timestamp(), clock(0), plausibility.TOO_OLD),
    (-40 * DAY, clock(-40 * DAY), (CLOCK_SKEW,)),             # a kiosk whose clock is 40 days behind: flagged only
])
def test_time_is_judged_by_the_hub_clock_and_the_kiosks_measured_skew(ahead_s, device_clock, expected):
    verdict = plausibility.judge_time(punch(ahead_s), NOW, device_clock, POLICY)
    assert (verdict.split(":")[0] if isinstance(verdict, str) else kinds(verdict)) == expected, verdict


def test_flags_say_which_way_and_by_how_much():
    [behind] = plausibility.judge_time(punch(-3604), NOW, clock(-3604), POLICY)
    assert behind.detail == "kiosk clock 3604 s behind at its last health"
    [ahead] = plausibility.judge_time(punch(DAY), NOW, clock(DAY), POLICY)
    assert ahead.detail == "kiosk clock 86400 s ahead at its last health"
    refused = plausibility.judge_time(punch(3600), NOW, clock(0), POLICY)
    assert refused == "ts in the future: 3600 s after the hub received it (kiosk clock skew +0 s)"


@pytest.mark.parametrize("over, expected", [
    ({}, None),
    ({"match": {"distance": 0.52, "margin": 0.1, "gallery_version": 1}}, None),
    ({"match": {"distance": 0.99, "margin": 0.1, "gallery_version": 1}},
     "match distance above threshold: 0.990 > 0.520"),
    ({"liveness": {"passed": False, "score": 0.2}}, plausibility.LIVENESS_FAILED),
    ({"liveness": {"passed": True, "score": 0.9}}, None),
    ({"site_id": "site-strict", "match": {"distance": 0.47, "gallery_version": 1}},
     "match distance above threshold: 0.470 > 0.450"),
    ({"device_id": "kiosk-loose", "site_id": "site-strict", "match": {"distance": 0.58, "gallery_version": 1}}, None),
])
def test_a_match_no_kiosk_would_accept_is_refused(over, expected):
    fields = {k: v for k, v in over.items() if k not in ("device_id", "site_id")}
    p = messages.validate(messages.Punch, signed_punch(KEY, over.get("device_id", DEVICE), over.get("site_id", SITE),
                                                       "E1", **fields))
    assert plausibility.judge_match(p, POLICY) == expected


def test_seq_reuse_and_gaps_against_what_is_stored_and_within_the_batch():
    stored = punch(seq=3)
    book = SeqBook({DEVICE: 3}, {(DEVICE, 3): stored.id})
    assert book.observe(punch(seq=4)) == ()
    assert book.observe(stored) == (), "a resend of the stored punch is no reuse"
    again = punch(seq=3)
    assert book.observe(again) == (Flag(SEQ_REUSED, f"seq 3 is also on punch {stored.id}", also=stored.id),)
    assert kinds(book.observe(punch(seq=7))) == (SEQ_GAP,)
    first = punch(seq=8)
    assert book.observe(first) == ()
    assert kinds(book.observe(punch(seq=8))) == (SEQ_REUSED,), "reused within one batch"
    assert [f.detail for f in book.observe(punch(seq=10))] == ["no punch with seq 9 stored before seq 10"]
    assert SeqBook({}, {}).observe(punch(seq=500)) == (), "a kiosk's first punch: nothing to compare"


def test_assess_refuses_before_it_counts_the_seq():
    book = SeqBook({DEVICE: 1}, {})
    bad = punch(seq=2, match={"distance": 0.99, "gallery_version": 1})
    assert plausibility.assess(bad, NOW, None, book, POLICY).startswith(plausibility.DISTANCE_TOO_HIGH)
    assert plausibility.assess(punch(seq=2), NOW, clock(-3604), book, POLICY) == (
        Flag(CLOCK_SKEW, "kiosk clock 3604 s behind at its last health"),)


def test_intake_turns_a_refusal_into_a_rejection_and_keeps_the_flags():
    device = intake.DeviceRecord(DEVICE, SITE, signing.public_key_b64(KEY))
    payload = to_payload(signed_punch(KEY, DEVICE, SITE, "E1", liveness={"passed": False}))

    def check(assess):
        return intake.check_punch(topics.device_topic(DEVICE, topics.PUNCH), payload, max_bytes=4096,
                                  device_lookup={DEVICE: device}.get, is_allowed=lambda e, s: True, assess=assess)

    refused = check(lambda p: plausibility.judge_match(p, POLICY) or ())
    assert isinstance(refused, intake.Rejected) and refused.reason == plausibility.LIVENESS_FAILED
    flagged = check(lambda p: (Flag(SEQ_GAP, "x"),))
    assert isinstance(flagged, intake.Accepted) and flagged.flags == (Flag(SEQ_GAP, "x"),)


# --- the admin's review (SQLite and PostgreSQL) ----------------------------------------


@pytest.fixture
def api(tmp_path, any_engine):
    hub = HubApi(tmp_path, any_engine)
    with hub.sessions() as session:
        registry.add_site(session, SITE, "Office A")
        for device_id in (DEVICE, "kiosk-02"):
            registry.register_device(session, device_id, SITE, signing.public_key_b64(KEY))
        session.add(Employee(employee_id="E1", name="E One", home_site_id=SITE))
        session.commit()
    yield hub
    hub.close()


def store(api, *punches: dict) -> None:
    """Decide and store punches as ingest does (one batch), received now."""
    devices = {d: intake.DeviceRecord(d, SITE, signing.public_key_b64(KEY)) for d in (DEVICE, "kiosk-02")}
    received = datetime.now(timezone.utc)
    with api.sessions() as session:
        book = SeqBook({}, {})
        decisions = []
        for fields in punches:
            topic = topics.device_topic(fields["device_id"], topics.PUNCH)
            decisions.append((ReceivedMessage(topic, to_payload(fields), received), intake.check_punch(
                topic, to_payload(fields), max_bytes=4096, device_lookup=devices.get, is_allowed=lambda e, s: True,
                assess=lambda p: plausibility.assess(p, received, None, book, POLICY))))
        store_decisions(session, decisions, max_payload_bytes=4096)
        session.commit()


def test_flagged_punches_are_listed_for_review_with_why_and_by_device(api):
    live = {"passed": True, "score": 0.9}
    first, again = (signed_punch(KEY, DEVICE, SITE, "E1", seq=1, liveness=live) for _ in range(2))
    clean = signed_punch(KEY, DEVICE, SITE, "E1", seq=2, liveness=live)
    narrow = signed_punch(KEY, "kiosk-02", SITE, "E1", seq=1, liveness=live,
                          match={"distance": 0.4, "margin": 0.01, "gallery_version": 1})
    store(api, first, again, clean, narrow)
    items = api.machine.get("/api/v1/flagged").json()["items"]
    assert {i["id"]: [f["kind"] for f in i["flags"]] for i in items} == {
        first["id"]: [SEQ_REUSED], again["id"]: [SEQ_REUSED], narrow["id"]: ["low_margin"]}, "as the reports flag"
    by_id = {i["id"]: i for i in items}
    assert by_id[again["id"]]["detail"] == [f"seq_reused: seq 1 is also on punch {first['id']}"]
    assert by_id[first["id"]]["detail"] == [f"seq_reused: seq reused by punch {again['id']}"]
    assert by_id[again["id"]]["flags"][0]["meaning"].startswith("the kiosk's seq was already stored")
    assert [i["id"] for i in api.machine.get("/api/v1/flagged", params={"device_id": "kiosk-02"}).json()["items"]] \
        == [narrow["id"]]
    assert len(api.machine.get("/api/v1/flagged", params={"limit": 1}).json()["items"]) == 1
    assert api.client().get("/api/v1/flagged").status_code == 401, "admins only"


# --- through the broker: the real ingest worker ----------------------------------


@pytest.fixture
def hub(tmp_path, broker):
    h = Hub(tmp_path, broker.port)
    h.start_worker()
    yield h
    h.close()


def stored(hub: Hub) -> dict[str, PunchRecord]:
    with hub.sessions() as session:
        return {p.id: p for p in session.scalars(select(PunchRecord))}


@pytest.fixture
def kiosk(broker):
    with KioskLink(broker.port, DEVICE) as link:
        yield link


def send(kiosk: KioskLink, *punches: dict) -> None:
    """Publish signed punches and wait until the hub has answered for each."""
    for fields in punches:
        kiosk.publish(topics.PUNCH, to_payload(fields))
    wanted = {p["id"] for p in punches}
    assert kiosk.wait_for(lambda k: wanted <= set(k.acked_ids()) | {i for i, _ in k.rejections()}), kiosk.received


@pytest.mark.broker
def test_acks_carry_the_highest_stored_seq_and_the_hub_time(hub, kiosk):
    before = datetime.now(timezone.utc)
    send(kiosk, signed_punch(KEY, DEVICE, SITE, "E1", seq=41), signed_punch(KEY, DEVICE, SITE, "E1", seq=42))
    acks = kiosk.acks()
    assert acks[-1].seq == 42
    assert all(before <= a.hub_ts <= datetime.now(timezone.utc) for a in acks)
    stranger = signed_punch(KEY, DEVICE, SITE, "E9", seq=43)  # refused (not allowed at the site): not stored
    send(kiosk, stranger)
    assert kiosk.acks()[-1].seq == 42 and kiosk.acks()[-1].rejected[0].id == stranger["id"]


def health_now(**over) -> bytes:
    """A health message of a kiosk in step whose outbox is empty."""
    fields = {"ts": datetime.now(timezone.utc).isoformat(), "uptime_s": 60.0, "outbox_depth": 0,
              "gallery_version": 1, "sw_version": "0.2.0", **over}
    return json.dumps(fields).encode()


def signed(**over) -> dict:
    return signed_punch(KEY, DEVICE, SITE, "E1", **over)


def dated(delta: timedelta) -> str:
    return messages.device_time(datetime.now(IST) + delta)


@pytest.mark.broker
def test_a_stolen_key_cannot_date_punches_as_it_likes(hub, kiosk):
    kiosk.publish(topics.HEALTH, health_now())
    assert wait_until(lambda: hub.workers[0].stats["health"] == 1)
    yesterday_0900 = datetime.combine(datetime.now(IST).date() - timedelta(days=1), time(9, 0), IST)
    honest = signed(seq=1)
    backdated = signed(seq=2, ts=messages.device_time(yesterday_0900))
    future = signed(seq=3, ts=dated(timedelta(days=3650)))
    in_1971 = signed(seq=4, ts=messages.device_time(datetime(1971, 6, 1, 9, 0, tzinfo=IST)))
    # the ends of the calendar: converting them to UTC overflows, which must still be a refusal with a reason
    year_1 = signed(seq=5, ts="0001-01-01T00:00:00.000+05:30")
    year_9999 = signed(seq=6, ts="9999-12-31T23:59:59.000-05:00")
    send(kiosk, honest, backdated, future, in_1971, year_1, year_9999)
    refused = dict(kiosk.rejections())
    assert refused[future["id"]].startswith("ts in the future: ") and refused[in_1971["id"]].startswith("ts too old: ")
    assert year_1["id"] in refused and year_9999["id"] in refused, refused
    assert set(kiosk.acked_ids()) == {backdated["id"], honest["id"]}
    rows = stored(hub)
    assert rows[backdated["id"]].flags == BACKDATED and rows[honest["id"]].flags is None
    assert "before the oldest punch the kiosk held" in rows[backdated["id"]].flag_detail
    assert {r.punch_id for r in hub.rejected()} == {future["id"], in_1971["id"], year_1["id"], year_9999["id"]}, \
        "refused punches kept for audit"


@pytest.mark.broker
def test_a_reused_seq_and_a_gap_are_stored_and_flagged(hub, kiosk):
    first = [signed(seq=s) for s in (1, 2, 3)]
    send(kiosk, *first)
    restarted = [signed(seq=s) for s in (1, 2)]  # a damaged outbox made the counter start again
    jumped = signed(seq=9)
    send(kiosk, *restarted, jumped)
    rows = stored(hub)
    assert len(rows) == 6, "nothing is refused for its seq"
    assert [rows[p["id"]].flags for p in first] == [SEQ_REUSED, SEQ_REUSED, None], "both punches of a seq"
    assert [rows[p["id"]].flags for p in restarted] == [SEQ_REUSED, SEQ_REUSED]
    assert rows[restarted[0]["id"]].flag_detail == f"seq_reused: seq 1 is also on punch {first[0]['id']}"
    assert rows[first[0]["id"]].flag_detail == f"seq_reused: seq reused by punch {restarted[0]['id']}"
    assert rows[jumped["id"]].flags == SEQ_GAP
    assert rows[jumped["id"]].flag_detail == "seq_gap: no punch with seq 4-8 stored before seq 9"
    assert kiosk.acks()[-1].seq == 9


@pytest.mark.broker
def test_a_match_no_kiosk_accepts_is_refused_with_a_reason_in_the_ack(hub, kiosk):
    far = signed(seq=1, match={"distance": 0.99, "margin": 0.2, "gallery_version": 1})
    spoof = signed(seq=2, liveness={"passed": False, "score": 0.1, "method": "blink"})
    good = signed(seq=3, match={"distance": 0.5, "margin": 0.2, "gallery_version": 1})
    send(kiosk, far, spoof, good)
    assert dict(kiosk.rejections()) == {far["id"]: "match distance above threshold: 0.990 > 0.550",
                                        spoof["id"]: "liveness failed"}
    assert kiosk.acked_ids() == [good["id"]] and list(stored(hub)) == [good["id"]]
    assert [r.reason for r in hub.rejected()] == ["match distance above threshold: 0.990 > 0.550", "liveness failed"]


@pytest.mark.broker
def test_a_backlog_from_days_offline_is_stored_unflagged(hub, kiosk):
    kiosk.publish(topics.HEALTH, health_now(outbox_depth=2, oldest_unacked_s=3 * DAY))  # back after 3 days
    assert wait_until(lambda: hub.workers[0].stats["health"] == 1)
    backlog = [signed(seq=s, ts=dated(-timedelta(days=d))) for s, d in ((1, 3), (2, 2))]
    send(kiosk, *backlog)
    assert kiosk.rejections() == [] and [stored(hub)[p["id"]].flags for p in backlog] == [None, None]
