"""Pre-signup records over moto: dedupe by token or (phone, device id), rotation, merge, expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from push_registry.presignup import PreSignup, PreSignupOutcome, PreSignupPost
from push_registry.storage import PreSignupStore

PHONE, OTHER_PHONE = "+919876543210", "+14155550100"


@pytest.fixture
def presignup(dynamodb: Any, clock: Any) -> PreSignup:
    return PreSignup(
        PreSignupStore(dynamodb, "push-registry-unit"), lifetime=timedelta(hours=24), clock=clock
    )


def post(token: str, phone: str = PHONE, device: str | None = None, **extra: Any) -> PreSignupPost:
    return PreSignupPost(phone=phone, token=token, device_id=device, **extra)


def dump(dynamodb: Any) -> list[tuple[str, str]]:
    items = dynamodb.scan(TableName="push-registry-unit")["Items"]
    return sorted((i["pk"]["S"].split("#")[0], i["sk"]["S"].split("#")[0]) for i in items)


def test_a_first_post_creates_a_record_with_its_guards(presignup: PreSignup, dynamodb: Any) -> None:
    record, outcome = presignup.register(post("tok-1", device="dev-1", meta='{"appVersion":"1.2.3"}'))

    assert outcome == PreSignupOutcome.CREATED
    assert [r.id for r in presignup.live_tokens(PHONE)] == [record.id]
    assert dump(dynamodb) == [
        ("PHONE", "DEVICE"),
        ("PHONE", "PRESIGNUP"),
        ("PHONE", "ROSTER"),
        ("PRESIGNUP_TOKEN", "GUARD"),
    ]


def test_reposting_a_token_updates_the_record_and_keeps_its_id(presignup: PreSignup, clock: Any) -> None:
    first, _ = presignup.register(post("tok-1", meta='{"v":1}'))
    clock.advance(hours=20)

    again, outcome = presignup.register(post("tok-1", device_type="ios"))
    clock.advance(hours=20)

    assert outcome == PreSignupOutcome.UPDATED
    assert again.id == first.id
    assert (again.meta, again.device_type) == ('{"v":1}', "ios")
    assert [r.id for r in presignup.live_tokens(PHONE)] == [first.id], "the expiry moved forward"


def test_a_token_posted_with_a_new_phone_moves_the_record(presignup: PreSignup, dynamodb: Any) -> None:
    first, _ = presignup.register(post("tok-1"))

    moved, outcome = presignup.register(post("tok-1", phone=OTHER_PHONE))

    assert (outcome, moved.id) == (PreSignupOutcome.UPDATED, first.id)
    assert presignup.live_tokens(PHONE) == []
    assert [r.id for r in presignup.live_tokens(OTHER_PHONE)] == [first.id]


def test_a_rotated_token_updates_the_devices_record(presignup: PreSignup, dynamodb: Any) -> None:
    first, _ = presignup.register(post("tok-old", device="dev-1"))

    rotated, outcome = presignup.register(post("tok-new", device="dev-1"))

    assert (outcome, rotated.id, rotated.token) == (PreSignupOutcome.UPDATED, first.id, "tok-new")
    assert [r.token for r in presignup.live_tokens(PHONE)] == ["tok-new"]
    # The old token no longer identifies anything: posting it creates a new record.
    fresh, outcome = presignup.register(post("tok-old"))
    assert (outcome, fresh.id != first.id) == (PreSignupOutcome.CREATED, True)


def test_a_post_matching_two_records_merges_them(presignup: PreSignup, dynamodb: Any) -> None:
    by_token, _ = presignup.register(post("tok-A"))
    by_device, _ = presignup.register(post("tok-B", device="dev-1"))

    merged, outcome = presignup.register(post("tok-A", device="dev-1"))

    assert outcome == PreSignupOutcome.MERGED
    assert merged.id == by_device.id
    assert [(r.id, r.token, r.device_id) for r in presignup.live_tokens(PHONE)] == [
        (by_device.id, "tok-A", "dev-1")
    ]
    assert dump(dynamodb) == [
        ("PHONE", "DEVICE"),
        ("PHONE", "PRESIGNUP"),
        ("PHONE", "ROSTER"),
        ("PRESIGNUP_TOKEN", "GUARD"),
    ]
    assert by_token.id != merged.id


def test_a_device_id_is_per_phone(presignup: PreSignup) -> None:
    mine, _ = presignup.register(post("tok-1", device="dev-1"))
    theirs, outcome = presignup.register(post("tok-2", phone=OTHER_PHONE, device="dev-1"))

    assert outcome == PreSignupOutcome.CREATED
    assert mine.id != theirs.id


def test_expired_records_are_absent_and_do_not_dedupe(presignup: PreSignup, clock: Any) -> None:
    first, _ = presignup.register(post("tok-1", device="dev-1"))
    clock.advance(hours=24, seconds=1)

    assert presignup.live_tokens(PHONE) == []
    second, outcome = presignup.register(post("tok-1", device="dev-1"))
    assert (outcome, second.id != first.id) == (PreSignupOutcome.CREATED, True)


def test_a_phone_keeps_at_most_the_cap_evicting_its_least_recently_posted_record(
    dynamodb: Any, clock: Any
) -> None:
    capped = PreSignup(
        PreSignupStore(dynamodb, "push-registry-unit"), timedelta(hours=24), clock=clock, max_per_phone=3
    )
    first, _ = capped.register(post("tok-1", device="dev-1"))
    for n in (2, 3):
        clock.advance(minutes=1)
        capped.register(post(f"tok-{n}", device=f"dev-{n}"))
    clock.advance(minutes=1)
    capped.register(post("tok-1", device="dev-1"))  # an update in place: nothing arrives, nothing leaves
    assert [r.token for r in capped.live_tokens(PHONE)] == ["tok-1", "tok-3", "tok-2"]
    clock.advance(minutes=1)

    _, outcome = capped.register(post("tok-4"))

    assert outcome == PreSignupOutcome.CREATED
    assert [r.token for r in capped.live_tokens(PHONE)] == ["tok-4", "tok-1", "tok-3"]
    # The evicted record leaves whole: its token and device are free for a new record.
    clock.advance(minutes=1)
    _, outcome = capped.register(post("tok-2", device="dev-2"))
    assert outcome == PreSignupOutcome.CREATED
    assert [r.token for r in capped.live_tokens(PHONE)] == ["tok-2", "tok-4", "tok-1"]
    assert first.id in {r.id for r in capped.live_tokens(PHONE)}
    assert ("PHONE", "PRESIGNUP") in dump(dynamodb)


def test_the_lookup_answers_the_newest_records_within_the_cap(dynamodb: Any, clock: Any) -> None:
    # Records stored before the cap existed (or above a lowered cap) are not all handed out.
    uncapped = PreSignup(PreSignupStore(dynamodb, "push-registry-unit"), timedelta(hours=24), clock=clock)
    for n in range(8):
        clock.advance(seconds=1)
        uncapped.register(post(f"tok-{n}"))
    capped = PreSignup(
        PreSignupStore(dynamodb, "push-registry-unit"), timedelta(hours=24), clock=clock, max_per_phone=5
    )

    assert [r.token for r in capped.live_tokens(PHONE)] == [f"tok-{n}" for n in (7, 6, 5, 4, 3)]
