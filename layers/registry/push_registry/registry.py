"""Use cases of the registry: register, list, update and deactivate devices, shared by every API."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from push_registry.bounds import utf8_size
from push_registry.errors import Contention, DeviceNotFound, InvalidRequest, TokenTaken, Unavailable
from push_registry.registration import (
    ChannelType,
    Provider,
    Registration,
    RegistrationFields,
    expiry_after,
    guess_provider,
    require_lifetime_beyond_lease,
    token_digest,
    utc_now,
)
from push_registry.registration_storage import RegistrationStorage
from push_registry.telemetry import Metric, Recorder, discard

# A concurrent writer can move or refresh a registration between our read and our conditional write;
# the write then fails its condition and we read again, a bounded number of times, backing off with
# jitter so that writers racing for one token serialise instead of colliding again.
_STALE_READ_ATTEMPTS = 8


def _back_off(attempt: int) -> None:
    if attempt:
        time.sleep(random.uniform(0.005, 0.025) * min(attempt, 4))  # noqa: S311 - jitter, not crypto


def _as_stored(registration: Registration) -> Registration:
    return registration


@dataclass(frozen=True, slots=True)
class NewDevice:
    """What a client asks to register."""

    token: str
    platform: str | None
    device_info: dict[str, str] = field(default_factory=dict)
    provider: Provider | None = None
    tenant: str | None = None
    channel_type: ChannelType | None = None  # only an import names one (see Registration)

    def registration(
        self,
        *,
        registration_id: str,
        owner: str,
        source: str,
        used_at: datetime,
        lifetime: timedelta,
        created_at: datetime | None = None,
    ) -> Registration:
        """The new registration of this device: `owner`'s through `source`, last used at `used_at`
        (and created then, unless `created_at` says otherwise), live for `lifetime` from that use.

        The one place a new registration is built, for a request through an API (`Registry`) and for
        an exported record (`Adoption`) alike; storage rebuilds stored ones from their items.
        """
        return Registration(
            id=registration_id,
            owner=owner,
            token=self.token,
            provider=self.provider or guess_provider(self.token, self.platform),
            platform=self.platform,
            device_info=dict(self.device_info),
            tenant=self.tenant,
            created_at=used_at if created_at is None else created_at,
            updated_at=used_at,
            last_used_at=used_at,
            expires_at=expiry_after(used_at, lifetime),
            source=source,
            channel_type=self.channel_type,
        )


class Outcome(StrEnum):
    """What a registration request did to the registry."""

    CREATED = "created"
    REFRESHED = "refreshed"
    MOVED = "moved"  # the token changed hands: another owner held it
    REPLACED = "replaced"  # the caller's own registration was deleted and re-created


@dataclass(frozen=True, slots=True)
class DeviceChange:
    """A PATCH: every field left as None keeps its stored value; an empty change is a heartbeat."""

    token: str | None = None
    device_info: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class DevicePage:
    devices: list[Registration]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class _LostHandOver:
    """A take-over that failed: from which holder (owner, device id), in which tenure, to what."""

    holder: tuple[str, str]
    tenure: str
    attempted: Registration

    def handed_on_meanwhile(self, now_held: TokenTaken) -> bool:
        """The token went from that holder to another, never free in between."""
        return now_held.tenure == self.tenure and now_held.holder != self.holder


class Registry:
    """The registry's rules over a RegistrationStorage; `clock` is injectable for tests."""

    def __init__(
        self,
        store: RegistrationStorage,
        lifetime: timedelta = timedelta(days=30),
        clock: Callable[[], datetime] = utc_now,
        record: Recorder = discard,
    ) -> None:
        require_lifetime_beyond_lease(lifetime, store.lease)
        self._store = store
        self._lifetime = lifetime
        self._clock = clock
        self._record = record

    def register_device(self, owner: str, device: NewDevice, source: str) -> Registration:
        """Create a registration; TokenTaken when a live registration (anyone's) holds the token."""
        now = self._clock()
        registration = self._new(owner, device, source, now)
        self._evicted(self._store.add(registration, now))
        self._record(Metric.REGISTRATIONS_CREATED)
        return registration

    def refresh_or_register(self, owner: str, device: NewDevice, source: str) -> Outcome:
        """Upsert for callers that need no record back (the camera app): `upsert_device`'s rules.

        A new token is registered; a token the caller holds is refreshed (given fields replace stored
        ones, last use and expiry move on); a token someone else holds moves to the caller.
        """
        # The camera app's answer names no record: a lost hand-over may answer success (see below).
        return self.upsert_device(owner, device, source, names_record=False)[1]

    def upsert_device(
        self, owner: str, device: NewDevice, source: str, names_record: bool = True
    ) -> tuple[Registration, Outcome]:
        """Upsert that returns the stored record.

        A refresh of a token the caller holds through this API is one conditional UpdateItem; anything
        else starts from the registration that request's refusal returns (see `RegistrationStorage.refresh`).
        `names_record`: the caller's answer shows the registration (see `_register_or_take_over`).
        """
        digest = token_digest(device.token)
        given = RegistrationFields(
            device_info=dict(device.device_info),
            platform=device.platform or None,
            provider=device.provider.value if device.provider else None,
            tenant=device.tenant or None,
        )
        for attempt in range(_STALE_READ_ATTEMPTS):
            _back_off(attempt)
            now = self._clock()
            if attempt == 0:
                # One UpdateItem when the caller holds the token through this API; otherwise its
                # refusal brings the stored registration, as the read below would.
                refreshed, mine = self._store.refresh(
                    owner, digest, now, expiry_after(now, self._lifetime), source=source, given=given
                )
                if refreshed is not None:
                    self._record(Metric.REGISTRATIONS_REFRESHED)
                    return refreshed, Outcome.REFRESHED
            else:
                mine = self._store.get(owner, digest)
            if mine is None or not mine.is_live(now):
                return self._register_or_take_over(
                    owner, device, source, keep_id=True, names_record=names_record
                )
            updated = self._merged(mine, owner, device, source, now)
            try:
                self._store.save(mine, updated, now)
            except DeviceNotFound:
                continue
            self._record(Metric.REGISTRATIONS_REFRESHED)
            return updated, Outcome.REFRESHED
        raise Unavailable() from Contention()

    def replace_device(self, owner: str, device: NewDevice, source: str) -> tuple[Registration, Outcome]:
        """Register the token as a new registration (new id), deleting whoever's registration held it."""
        return self._register_or_take_over(owner, device, source, keep_id=False, names_record=True)

    def _register_or_take_over(
        self, owner: str, device: NewDevice, source: str, keep_id: bool, names_record: bool
    ) -> tuple[Registration, Outcome]:
        """Register the token, or take it from whoever holds it; `names_record` when the caller's answer
        shows the registration (its id, its owner), which must then be one that was written."""
        lost: _LostHandOver | None = None
        for attempt in range(_STALE_READ_ATTEMPTS):
            _back_off(attempt)
            now = self._clock()
            fresh = self._new(owner, device, source, now)
            try:
                self._evicted(self._store.add(fresh, now))
                self._record(Metric.REGISTRATIONS_CREATED)
                return fresh, Outcome.CREATED
            except TokenTaken as taken:
                if taken.holder is None:
                    continue
                if not names_record and lost is not None and lost.handed_on_meanwhile(taken):
                    # Last writer wins: another request took the token from the holder this one was
                    # taking it from, and it was never free in between. This request takes effect just
                    # before that hand-over, which leaves the state the table has now. (Retrying
                    # instead would lose again and again while dozens of devices upsert one token.)
                    # Only for answers that name no record: `lost.attempted` was never written, so an
                    # answer showing its id would name a registration that does not exist. Those
                    # callers take the token from its new holder instead, or answer 503 when out of
                    # attempts.
                    return self._handed_on(lost.attempted, lost.holder[0], owner, keep_id)
                holder, holder_id = taken.holder
                tenure = taken.tenure
            current = self._store.get(holder, token_digest(device.token))
            if current is None or current.id != holder_id or not current.is_live(now):
                continue  # the holder changed meanwhile: decide again on fresh state
            # A new registration of the same token keeps its channel type (see `_merged`).
            updated = (
                self._merged(current, owner, device, source, now)
                if keep_id
                else replace(fresh, channel_type=fresh.channel_type or current.channel_type)
            )
            try:
                if keep_id and holder == owner:
                    self._store.save(current, updated, now)
                else:
                    self._evicted(self._store.take_over(current, updated, now))
            except DeviceNotFound:
                lost = _LostHandOver((holder, holder_id), tenure, updated) if tenure is not None else None
                continue
            return self._handed_on(updated, holder, owner, keep_id)
        raise Unavailable() from Contention()

    def _evicted(self, evicted: list[Registration]) -> None:
        """The user's least recently used registrations, deactivated to keep the cap: their devices'
        next heartbeat is a 404, and the app registers again."""
        for _ in evicted:
            self._record(Metric.REGISTRATIONS_EVICTED)

    def _handed_on(
        self, updated: Registration, holder: str, owner: str, keep_id: bool
    ) -> tuple[Registration, Outcome]:
        if holder != owner:
            self._record(Metric.REGISTRATIONS_MOVED)
            return updated, Outcome.MOVED
        self._record(Metric.REGISTRATIONS_REFRESHED)
        return updated, Outcome.REFRESHED if keep_id else Outcome.REPLACED

    def _new(self, owner: str, device: NewDevice, source: str, now: datetime) -> Registration:
        return device.registration(
            registration_id=self._store.new_id(now, token_digest(device.token)),
            owner=owner,
            source=source,
            used_at=now,
            lifetime=self._lifetime,
        )

    def _merged(
        self, current: Registration, owner: str, device: NewDevice, source: str, now: datetime
    ) -> Registration:
        """`current` used now by `owner` through `source`: given fields replace stored ones, omitted
        ones are kept. Taken over by another user or through another API, the registration becomes the
        new holder's: it records that API and its tenant (none when the request names none), never the
        previous holder's, so the previous API's tenant no longer reaches it. The channel type stays
        whoever registers the token: an APNs token's environment and kind are the token's, and the
        seeds' APIs cannot name them."""
        same_holder = current.owner == owner and current.source == source
        return current.used(
            now,
            self._lifetime,
            owner=owner,
            device_info={**current.device_info, **device.device_info},
            platform=device.platform or current.platform,
            provider=device.provider or current.provider,
            tenant=device.tenant or (current.tenant if same_holder else None),
            source=source,
            channel_type=device.channel_type or current.channel_type,
        )

    def list_devices(self, owner: str, limit: int, cursor: str | None = None) -> DevicePage:
        """The owner's live registrations, newest `created_at` first, `limit` at a time.

        Reads the account's list entries from the cursor on, and their registrations: about `limit` of
        each, whatever the account holds (deactivated registrations have no entry; expired ones are
        skipped until TTL deletes them).
        """
        now = self._clock()
        after = None if cursor is None else _decode_cursor(cursor, owner)
        page, skipped, more = self._store.listed(owner, after, limit, now)
        for _ in range(skipped):
            self._record(Metric.EXPIRED_TOKEN_HITS)
        return DevicePage(page, _encode_cursor(page[-1]) if more else None)

    def update_device(
        self,
        owner: str,
        device_id: str,
        change: DeviceChange,
        seen_as: Callable[[Registration], Registration | None] = _as_stored,
        shown_platforms: frozenset[str] | None = None,
    ) -> Registration:
        """Apply a PATCH to a live registration: new metadata, a new token, or just a heartbeat.

        `seen_as`: the registration as the calling API shows it (and stores it when it changes it), or
        None when that API cannot show it: DeviceNotFound, nothing changed. `shown_platforms`: the
        stored platforms for which `seen_as` is the registration as stored (None: every registration).
        A heartbeat on one of those is one conditional write that returns the stored record; anything
        else reads the registration by its id (one GetItem) and writes it back in one transaction.
        """
        if change == DeviceChange():
            now = self._clock()
            touched = self._store.touch(
                owner, device_id, now, expiry_after(now, self._lifetime), platforms=shown_platforms
            )
            if touched is not None:
                self._record(Metric.REGISTRATIONS_REFRESHED)
                return touched
        for attempt in range(_STALE_READ_ATTEMPTS):
            _back_off(attempt)
            current = self._live(owner, device_id)
            seen = seen_as(current)
            if seen is None:
                raise DeviceNotFound()
            now = self._clock()
            updated = seen.used(
                now,
                self._lifetime,
                device_info=current.device_info if change.device_info is None else dict(change.device_info),
                token=change.token or current.token,
            )
            if change.token is not None and change.token != current.token:
                updated = replace(updated, provider=guess_provider(change.token, updated.platform))
            try:
                if updated.token == current.token:
                    self._store.save(current, updated, now)
                else:
                    self._store.move_token(current, updated, now)
            except DeviceNotFound:
                continue
            self._record(Metric.REGISTRATIONS_REFRESHED)
            return updated
        raise DeviceNotFound()

    def deactivate_device(self, owner: str, device_id: str, tenant: str | None = None) -> None:
        """Soft delete: the record stays until its expiry, the token is free at once.

        One transaction when the id names the registration's keys; otherwise read it by id first.
        With `tenant` (the chat backoffice's platform), only a registration made under that tenant is
        found: another platform's key does not reach it (DeviceNotFound).
        """
        if self._store.deactivate_by_id(owner, device_id, self._clock(), tenant=tenant):
            self._record(Metric.DEACTIVATIONS)
            return
        for attempt in range(_STALE_READ_ATTEMPTS):
            _back_off(attempt)
            current = self._live(owner, device_id)
            if tenant is not None and current.tenant != tenant:
                raise DeviceNotFound()
            now = self._clock()
            try:
                self._store.deactivate(current, replace(current, active=False, updated_at=now), now)
            except DeviceNotFound:
                continue
            self._record(Metric.DEACTIVATIONS)
            return
        raise DeviceNotFound()

    def holders(self, tokens: list[str]) -> dict[str, tuple[str, str]]:
        """(owner, device id) of the live registration holding each token, for the tokens held."""
        digests = {token_digest(token): token for token in tokens}
        held = self._store.holders(list(digests), self._clock())
        return {digests[digest]: holder for digest, holder in held.items()}

    def invalidate(self, token: str, holder_read: tuple[str, str] | None = None) -> bool:
        """A push provider rejected the token: deactivate its live registration (whoever holds it).

        False when no live registration holds it, which makes repeating an invalidation a no-op.
        `holder_read` is its holder as a batch read just found (saves reading it again).

        With the deactivation, the token's tombstone: no import brings back a row of the token last
        used before now, whoever the row names (`Adoption`). It lasts the registration lifetime, as
        long as such a row could still be imported at all: any older one is expired by then.
        """
        digest = token_digest(token)
        for attempt in range(_STALE_READ_ATTEMPTS):
            _back_off(attempt)
            now = self._clock()
            current = None
            if attempt == 0 and holder_read:
                current = self._store.get(holder_read[0], digest)
                if current is not None and (current.id != holder_read[1] or not current.is_live(now)):
                    current = None
            current = current or self._store.holding(digest, now)
            if current is None:
                return False
            try:
                self._store.declare_dead(
                    current,
                    replace(current, active=False, updated_at=now),
                    now,
                    remembered_until=expiry_after(now, self._lifetime),
                )
            except DeviceNotFound:
                continue
            self._record(Metric.DEACTIVATIONS)
            return True
        raise Unavailable() from Contention()

    def _live(self, owner: str, device_id: str) -> Registration:
        registration = self._store.by_id(owner, device_id)
        if registration is None:
            raise DeviceNotFound()
        if not registration.is_live(self._clock()):
            self._record(Metric.EXPIRED_TOKEN_HITS)
            raise DeviceNotFound()
        return registration


def _encode_cursor(last: Registration) -> str:
    """Opaque to clients: where the page ended, and whose list it was (another account's is refused)."""
    raw = json.dumps(
        [last.created_at.isoformat(timespec="microseconds"), last.id, _owner_tag(last.owner)],
        separators=(",", ":"),
    ).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, owner: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, device_id, tag = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        # Bounded in UTF-8 bytes (a forged id may hold a lone surrogate, which has none): the id goes
        # into a sort key (1 KiB at most); the tag binds the cursor to its account.
        id_bytes = utf8_size(device_id) if isinstance(device_id, str) else None
        if (
            isinstance(created_at, str)
            and id_bytes is not None
            and id_bytes <= 128
            and tag == _owner_tag(owner)
        ):
            moment = datetime.fromisoformat(created_at)
            if moment.tzinfo is not None:
                return moment.astimezone(UTC), device_id
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeEncodeError):
        pass
    raise InvalidRequest.single("cursor", "invalid_format")


def _owner_tag(owner: str) -> str:
    return hashlib.sha256(owner.encode("utf-8", "surrogatepass")).hexdigest()[:16]
