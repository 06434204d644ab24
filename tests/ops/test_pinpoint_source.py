"""Amazon Pinpoint's endpoint definitions mapped onto registrations, and the files they come in (no
database: rows that are skipped or rejected never reach the table)."""

from __future__ import annotations

import gzip
import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ops.importer import ImportFailed, ImportJob, run_import
from ops.progress import Silent, Tally
from ops.sources import PINPOINT, PINPOINT_DEMOGRAPHIC, SOURCES, Inactive, Rejected, Skipped, record_of
from push_registry.registration import CHANNEL_TYPES, ChannelType, Provider

NOW = datetime(2026, 10, 29, tzinfo=UTC)
SOURCE = SOURCES[PINPOINT]
APNS_TOKEN = "a1" * 32


def endpoint(**fields: Any) -> dict[str, Any]:
    """An endpoint as `create-export-job` writes it (EndpointResponse's fields)."""
    return {
        "ApplicationId": "6e0b7591a90841d2b5d93fa11143e5a7",
        "Id": "0f3a2b1c-5d6e-4f70-8192-a3b4c5d6e7f8",
        "ChannelType": "APNS_SANDBOX",
        "Address": APNS_TOKEN,
        "EndpointStatus": "ACTIVE",
        "OptOut": "NONE",
        "CohortId": "42",
        "CreationDate": "2025-03-01T08:00:00.000Z",
        "EffectiveDate": "2026-10-20T17:45:12.123Z",
        "Demographic": {
            "AppVersion": "3.2.1",
            "Make": "Apple",
            "Model": "iPhone",
            "ModelVersion": "15,2",
            "Platform": "ios",
            "PlatformVersion": "18.1",
            "Locale": "pt_BR",
            "Timezone": "America/Sao_Paulo",
        },
        "Location": {"Country": "BR", "City": "Recife"},
        "Attributes": {"interests": ["football"]},
        "Metrics": {"sessions": 12.0},
        "User": {"UserId": "user-42", "UserAttributes": {"plan": ["pro"]}},
        **fields,
    }


def test_an_apns_sandbox_endpoint_keeps_its_channel_type_id_dates_and_demographic() -> None:
    record = record_of(SOURCE, endpoint(), NOW)

    assert (record.owner, record.source, record.id) == ("user-42", "pinpoint", endpoint()["Id"])
    device = record.device
    assert (device.token, device.provider, device.platform) == (APNS_TOKEN, Provider.APNS, "ios")
    assert device.channel_type is ChannelType.APNS_SANDBOX
    assert device.device_info == {
        "app_version": "3.2.1",
        "model": "iPhone",
        "os": "ios",
        "os_version": "18.1",
        "language": "pt_BR",
    }, "Make, ModelVersion and Timezone have no key in the registry's vocabulary"
    assert set(device.device_info) == set(PINPOINT_DEMOGRAPHIC.values())
    assert record.created_at == datetime(2025, 3, 1, 8, tzinfo=UTC)
    assert record.last_used_at == datetime(2026, 10, 20, 17, 45, 12, 123000, tzinfo=UTC)


@pytest.mark.parametrize("channel", [kind for kinds in CHANNEL_TYPES.values() for kind in kinds])
def test_every_push_channel_served_here_is_imported_with_its_provider(channel: ChannelType) -> None:
    record = record_of(SOURCE, endpoint(ChannelType=channel.value, Demographic=None), NOW)
    assert record.device.channel_type is channel
    assert channel in CHANNEL_TYPES[record.device.provider]
    assert record.device.platform == ("android" if channel is ChannelType.GCM else "ios")
    assert record.device.device_info == {}


def test_an_fcm_endpoint_of_an_ios_app_is_an_ios_registration() -> None:
    record = record_of(SOURCE, endpoint(ChannelType="GCM", Address="fcm:abc"), NOW)
    assert (record.device.provider, record.device.platform) == (Provider.FCM, "ios")


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        *(
            ({"ChannelType": channel}, "not_push")
            for channel in ("EMAIL", "SMS", "VOICE", "IN_APP", "CUSTOM")
        ),
        ({"OptOut": "ALL"}, "opted_out"),
        ({"OptOut": "all"}, "opted_out"),
        ({"OptOut": "ALL", "User": None}, "opted_out"),  # opted out first: whoever it is
        ({"EndpointStatus": "INACTIVE"}, "inactive"),
        ({"User": None}, "anonymous"),
        ({"User": {"UserAttributes": {}}}, "anonymous"),
        ({"User": {"UserId": "  "}}, "anonymous"),
    ],
)
def test_endpoints_with_nothing_to_import_are_counted_by_kind(fields: dict[str, Any], kind: str) -> None:
    with pytest.raises(Skipped) as skipped:
        record_of(SOURCE, endpoint(**fields), NOW)
    assert skipped.value.kind == kind
    assert isinstance(skipped.value, Inactive) == (kind == "inactive")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"ChannelType": "ADM"}, "ADM: Amazon Device Messaging is a push channel not served here"),
        ({"ChannelType": "BAIDU"}, "BAIDU: Baidu Cloud Push is a push channel not served here"),
        ({"ChannelType": "PUSH"}, "PUSH names no push service"),
        ({"ChannelType": "PIGEON"}, "is not one of Pinpoint's"),
        ({"ChannelType": None}, "ChannelType is required"),
        ({"ChannelType": 7}, "ChannelType must be a string"),
        ({"OptOut": "SOME"}, "OptOut must be ALL or NONE"),
        ({"EndpointStatus": "PAUSED"}, "EndpointStatus must be"),
        ({"User": "user-42"}, "User must be an object"),
        ({"User": {"UserId": 42}}, "User.UserId must be a string"),
        ({"Address": "has a space"}, "Address"),
        ({"Address": None}, "Address"),
        ({"Demographic": {"AppVersion": 3}}, "Demographic.AppVersion"),
        ({"EffectiveDate": "yesterday"}, "EffectiveDate is not a date"),
        ({"EffectiveDate": None, "CreationDate": None}, "EffectiveDate or CreationDate is required"),
        ({"EffectiveDate": "2026-12-01T00:00:00Z"}, "the last use is in the future"),
    ],
)
def test_endpoints_that_cannot_be_imported_are_rejected_with_a_reason(
    fields: dict[str, Any], reason: str
) -> None:
    with pytest.raises(Rejected, match=reason):
        record_of(SOURCE, endpoint(**fields), NOW)


@pytest.mark.parametrize("kept", ["0f3a2b1c-5d6e-4f70-8192-a3b4c5d6e7f8", "device.42_~x"])
def test_a_url_safe_id_is_kept_and_another_id_is_replaced(kept: str) -> None:
    assert record_of(SOURCE, endpoint(Id=kept), NOW).id == kept
    for unsafe in ("a/b", "a b", "x" * 129, "", 17):
        assert record_of(SOURCE, endpoint(Id=unsafe), NOW).id is None  # derived from source, user, token


def test_a_missing_effective_date_falls_back_to_the_creation_date() -> None:
    record = record_of(SOURCE, endpoint(EffectiveDate=None, CreationDate="2026-10-01T00:00:00Z"), NOW)
    assert record.last_used_at == datetime(2026, 10, 1, tzinfo=UTC)


# ---------------------------------------------------------------------- the files


def skipped_rows(count: int) -> list[dict[str, Any]]:
    """Rows that never reach the table: a test of the files needs no database."""
    kinds = [{"ChannelType": "EMAIL"}, {"OptOut": "ALL"}, {"User": None}, {"EndpointStatus": "INACTIVE"}]
    return [endpoint(Id=f"e-{i}", **kinds[i % len(kinds)]) for i in range(count)]


def import_file(path: Path, **options: Any) -> Any:
    return run_import(ImportJob(path=path, source=PINPOINT, table="unused", **options), Silent(), object())


def expected_counts(count: int) -> dict[str, int]:
    return {
        "not_push": (count + 3) // 4,
        "opted_out": (count + 2) // 4,
        "anonymous": (count + 1) // 4,
        "inactive": count // 4,
    }


def test_an_export_jobs_file_is_read_gzip_compressed_or_not(tmp_path: Path) -> None:
    rows = skipped_rows(40)
    text = "".join(json.dumps(row) + "\n" for row in rows)
    plain, packed = tmp_path / "part-0000", tmp_path / "part-0001.gz"
    plain.write_text(text, encoding="utf-8")
    packed.write_bytes(gzip.compress(text.encode()))

    for path in (plain, packed):
        counts = import_file(path).counts
        assert {k: v for k, v in vars(counts).items() if v} == expected_counts(40), path.name


@pytest.mark.parametrize("indent", [4, None], ids=["as-the-cli-prints-it", "on-one-line"])
def test_get_user_endpoints_output_is_read_endpoint_by_endpoint(tmp_path: Path, indent: int | None) -> None:
    rows = [*skipped_rows(6), endpoint(ChannelType="ADM")]
    path = tmp_path / "user-42.json"
    path.write_text(json.dumps({"EndpointsResponse": {"Item": rows}}, indent=indent), encoding="utf-8")

    summary = import_file(path)

    assert {k: v for k, v in vars(summary.counts).items() if v} == {**expected_counts(6), "rejected": 1}
    (reject,) = [json.loads(line) for line in (tmp_path / "user-42.json.rejects.jsonl").open()]
    assert reject["line"] == 7, "a row of the document is a line: its position in Item"
    assert json.loads(reject["row"])["ChannelType"] == "ADM"


def test_a_json_document_that_is_not_get_user_endpoints_output_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "endpoint.json"
    path.write_text(json.dumps({"EndpointResponse": endpoint()}, indent=2), encoding="utf-8")
    with pytest.raises(ImportFailed, match="one JSON document"):
        import_file(path)


class StopAfter:
    """Progress that stops the run once `rows` rows are committed, as Ctrl-C would."""

    def __init__(self, stop: threading.Event, rows: int) -> None:
        self._stop, self._rows = stop, rows

    def start(self, total: int, done: int) -> None:
        pass

    def advance(self, done: int, counts: Tally) -> None:
        if done >= self._rows:
            self._stop.set()

    def stop(self) -> None:
        pass


@pytest.mark.parametrize("form", ["gzip", "document"])
def test_a_stopped_import_of_either_form_resumes_where_it_stopped(tmp_path: Path, form: str) -> None:
    rows = skipped_rows(600)
    path = tmp_path / f"export.{form}"
    if form == "gzip":
        path.write_bytes(gzip.compress("".join(json.dumps(row) + "\n" for row in rows).encode()))
    else:
        path.write_text(json.dumps({"EndpointsResponse": {"Item": rows}}, indent=2), encoding="utf-8")
    job = ImportJob(path=path, source=PINPOINT, table="unused", workers=2)
    stop = threading.Event()

    with pytest.raises(ImportFailed) as stopped:
        run_import(job, StopAfter(stop, 100), object(), stop)
    assert stopped.value.summary is not None
    assert 100 <= stopped.value.summary.counts.records < 600
    resumed = run_import(job, Silent(), object())

    assert 100 < resumed.resumed_at_line <= 601
    assert {k: v for k, v in vars(resumed.counts).items() if v} == expected_counts(600)
    assert not job.checkpoint_path.exists()
