"""`push-registry`: bulk import from the existing systems, and operator commands over the internal routes."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from ops.importer import DEFAULT_RATE, DEFAULT_WORKERS, ImportFailed, ImportJob, Summary, run_import
from ops.operator_api import InternalApi, OperatorError, stack_output, stack_parameter, user_path
from ops.progress import Lines, Progress, Silent, for_stream
from ops.sources import PINPOINT, SOURCES
from push_registry.invalidation import DELIVERY_STATUSES, REASONS

INTERRUPTED = 130
# "You can send a direct message to as many as 100 recipients" (Amazon Pinpoint API Reference, Messages).
SEND_MESSAGES_MAX_ADDRESSES = 100


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Push-token registry operations: import existing tokens, answer support questions."""


# ---------------------------------------------------------------------- import


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--from", "source", required=True, type=click.Choice(sorted(SOURCES)), help="The exporting system."
)
@click.option("--table", help="The registry table (default: the --stack's TableName output).")
@click.option("--stack", help="A deployed stack: its TableName output names the table.")
@click.option(
    "--endpoint-url", help="DynamoDB endpoint, e.g. make run's DynamoDB Local http://127.0.0.1:8000."
)
@click.option("--region", help="AWS region (default: the AWS configuration's).")
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_RATE,
    show_default=True,
    help="DynamoDB requests per second, all workers together.",
)
@click.option("--workers", type=click.IntRange(min=1, max=128), default=DEFAULT_WORKERS, show_default=True)
@click.option(
    "--lifetime-days",
    type=click.IntRange(min=8, max=365),
    help="Days a registration lives after its last use; records unused for longer are skipped"
    " (default: the --stack's RegistrationTtlDays parameter, else 30).",
)
@click.option(
    "--max-devices-per-user",
    type=click.IntRange(min=0, max=1000),
    help="Live registrations a user keeps; one more evicts the user's least recently used (0: no cap;"
    " default: the --stack's MaxDevicesPerUser parameter, else 20).",
)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Default: FILE.checkpoint.json (removed once the file is done).",
)
@click.option(
    "--rejects", type=click.Path(dir_okay=False, path_type=Path), help="Default: FILE.rejects.jsonl."
)
@click.option(
    "--conflicts", type=click.Path(dir_okay=False, path_type=Path), help="Default: FILE.conflicts.jsonl."
)
@click.option("--restart", is_flag=True, help="Ignore an existing checkpoint and start from the first line.")
@click.option(
    "--progress",
    type=click.Choice(["auto", "bar", "lines", "none"]),
    default="auto",
    show_default=True,
    help="auto: a bar on a terminal, plain lines otherwise.",
)
@click.option(
    "--progress-every",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds between plain progress lines.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_(
    file: Path,
    source: str,
    table: str | None,
    stack: str | None,
    endpoint_url: str | None,
    region: str | None,
    rate: float,
    workers: int,
    lifetime_days: int | None,
    max_devices_per_user: int | None,
    checkpoint: Path | None,
    rejects: Path | None,
    conflicts: Path | None,
    restart: bool,
    progress: str,
    progress_every: float,
    as_json: bool,
) -> None:
    """Adopt FILE, a JSON Lines export of one existing system, into the registry table.

    Resumable (run the same command again after a stop) and idempotent (a file imported twice changes
    nothing). See docs/adoption.md for each source's fields.
    """
    if table is None and stack is None:
        raise click.UsageError("give --table or --stack")
    if table is None:
        table = _stack_output(stack or "", region, "TableName")
    if lifetime_days is None:
        lifetime_days = int(_stack_parameter(stack, region, "RegistrationTtlDays")) if stack else 30
    if max_devices_per_user is None:
        max_devices_per_user = int(_stack_parameter(stack, region, "MaxDevicesPerUser")) if stack else 20
    job = ImportJob(
        path=file,
        source=source,
        table=table,
        endpoint_url=endpoint_url,
        region=region,
        rate=rate,
        workers=workers,
        lifetime=timedelta(days=lifetime_days),
        max_devices_per_user=max_devices_per_user,
        restart=restart,
        checkpoint=checkpoint,
        rejects=rejects,
        conflicts=conflicts,
    )
    stop = threading.Event()
    try:
        summary = run_import(job, _progress(progress, progress_every), stop=stop)
    except ImportFailed as failed:
        if failed.summary is not None:
            _print_summary(failed.summary, job, as_json)
        click.echo(f"import stopped: {failed}", err=True)
        sys.exit(INTERRUPTED if stop.is_set() else 1)
    _print_summary(summary, job, as_json)


def _progress(choice: str, interval: float) -> Progress:
    if choice == "none":
        return Silent()
    if choice == "lines":
        return Lines(sys.stderr, interval)
    if choice == "bar":
        return for_stream(sys.stderr, interval) if sys.stderr.isatty() else Lines(sys.stderr, interval)
    return for_stream(sys.stderr, interval)


def _print_summary(summary: Summary, job: ImportJob, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
        return
    c = summary.counts
    # Only Pinpoint's endpoints can be opted out, anonymous or of another channel: its own line.
    pinpoint = (
        f"skipped as opted out {c.opted_out:,}, anonymous (no User.UserId) {c.anonymous:,}, "
        f"not a push channel {c.not_push:,}\n"
        if job.source == PINPOINT
        else ""
    )
    click.echo(
        f"imported {c.imported + c.won:,} ({c.won:,} of them replacing a less recently used registration), "
        f"refreshed {c.refreshed:,}, unchanged {c.unchanged:,}\n"
        f"skipped as expired {c.expired:,}, inactive at the source {c.inactive:,}, "
        f"deactivated here since {c.retired:,}, beyond the per-user cap {c.capped:,} "
        f"(and {c.evicted:,} registrations evicted for the cap)\n"
        f"{pinpoint}"
        f"rejected {c.rejected:,} (see {job.rejects_path}), "
        f"conflicts {c.conflicts:,}: won {c.won:,}, lost {c.lost:,} (see {job.conflicts_path})\n"
        f"{c.records:,} records in {summary.seconds:.1f} s: {summary.records_per_second:,.0f} records/s "
        f"at --rate {summary.rate:g} requests/s"
    )


# ---------------------------------------------------------------------- operator commands


def _api_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--region", help="AWS region (default: the API URL's or the AWS configuration's)."
    )(command)
    command = click.option("--stack", help="A deployed stack: its ApiUrl output is the API.")(command)
    return click.option("--api", help="The API's base URL, e.g. http://127.0.0.1:3000 for make run.")(command)


def _api(api: str | None, stack: str | None, region: str | None) -> InternalApi:
    if (api is None) == (stack is None):
        raise click.UsageError("give exactly one of --api or --stack")
    url = api or _stack_output(stack or "", region, "ApiUrl")
    try:
        return InternalApi(url, region)
    except OperatorError as error:
        raise click.ClickException(str(error)) from None


def _call(api: InternalApi, method: str, path: str, body: Any = None) -> Any:
    try:
        answer = api.request(method, path, body)
    except OperatorError as error:
        raise click.ClickException(str(error)) from None
    if not 200 <= answer.status < 300:
        detail = answer.body.get("message") if isinstance(answer.body, dict) else answer.body
        raise click.ClickException(f"HTTP {answer.status}: {detail}")
    return answer.body


def _show(body: Any) -> None:
    click.echo(json.dumps(body, indent=2, ensure_ascii=False))


def _secret_argument(value: str) -> str:
    """`-` reads the value from standard input, which keeps tokens and phones out of shell history."""
    return sys.stdin.readline().strip() if value == "-" else value


@main.command("who-holds")
@click.argument("token")
@_api_options
def who_holds(token: str, api: str | None, stack: str | None, region: str | None) -> None:
    """The live registration holding TOKEN (`-` reads it from stdin), or null."""
    _show(
        _call(_api(api, stack, region), "POST", "/internal/tokens/holder", {"token": _secret_argument(token)})
    )


@main.command("user")
@click.argument("user_id")
@click.option(
    "--addresses",
    is_flag=True,
    help="Print instead the Addresses of an End User Messaging send-messages request for the live"
    " tokens: add a message configuration, and it is the request's message for `aws pinpoint"
    " send-messages`.",
)
@_api_options
def user(user_id: str, addresses: bool, api: str | None, stack: str | None, region: str | None) -> None:
    """Every live token of USER_ID, from every client API."""
    client = _api(api, stack, region)
    tokens: list[Any] = []
    cursor: str | None = None
    while True:
        query = "?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = _call(client, "GET", user_path(user_id, "/tokens") + query)
        tokens += page["tokens"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    if addresses:
        _show({"Addresses": _send_messages_addresses(tokens)})
        return
    _show({"user_id": user_id, "tokens": tokens})


def _send_messages_addresses(tokens: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """SendMessages' Addresses: each token with the ChannelType the sender look-up names for it."""
    found = {t["token"]: {"ChannelType": t["channel_type"]} for t in tokens if t.get("channel_type")}
    if len(found) < len(tokens):
        click.echo(
            f"left out {len(tokens) - len(found)} web push token(s): End User Messaging has no web push"
            " channel (`user` without --addresses lists them)",
            err=True,
        )
    if len(found) > SEND_MESSAGES_MAX_ADDRESSES:
        raise click.ClickException(
            f"{len(found)} addresses: SendMessages takes at most {SEND_MESSAGES_MAX_ADDRESSES} a request"
        )
    return found


@main.command("phone")
@click.argument("phone")
@_api_options
def phone(phone: str, api: str | None, stack: str | None, region: str | None) -> None:
    """The live pre-signup tokens of PHONE (`-` reads it from stdin)."""
    _show(
        _call(
            _api(api, stack, region),
            "POST",
            "/internal/presignup-tokens/lookup",
            {"phone": _secret_argument(phone)},
        )
    )


@main.command("invalidate")
@click.argument("token")
@click.option(
    "--reason",
    required=True,
    type=click.Choice([*REASONS, *DELIVERY_STATUSES]),
    help="The push provider's word, or End User Messaging's delivery status.",
)
@click.option(
    "--status-message", help="End User Messaging's status message for the address (with PERMANENT_FAILURE)."
)
@_api_options
def invalidate(
    token: str,
    reason: str,
    status_message: str | None,
    api: str | None,
    stack: str | None,
    region: str | None,
) -> None:
    """Retire TOKEN (`-` reads it from stdin) as a push provider rejected it."""
    item = {"token": _secret_argument(token), "reason": reason}
    if status_message is not None:
        item["status_message"] = status_message
    body = {"invalidations": [item]}
    result = _call(_api(api, stack, region), "POST", "/internal/tokens/invalidations", body)
    _show({"status": result["results"][0]["status"]})


@main.command("erase-user")
@click.argument("user_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_api_options
def erase_user(user_id: str, yes: bool, api: str | None, stack: str | None, region: str | None) -> None:
    """Erase every registration, guard and counter of USER_ID (DELETE /internal/users/{userId})."""
    if not yes:
        click.confirm(f"Erase everything the registry holds about user {user_id}?", abort=True)
    _show(_call(_api(api, stack, region), "DELETE", user_path(user_id)))


@main.command("erase-phone")
@click.argument("phone")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_api_options
def erase_phone(phone: str, yes: bool, api: str | None, stack: str | None, region: str | None) -> None:
    """Erase every pre-signup record of PHONE (`-` reads it from stdin)."""
    number = _secret_argument(phone)
    if not yes:
        click.confirm("Erase every pre-signup record of this phone?", abort=True)
    _show(_call(_api(api, stack, region), "POST", "/internal/presignup-tokens/erase", {"phone": number}))


def _stack_output(stack: str, region: str | None, key: str) -> str:
    try:
        return stack_output(stack, region, key)
    except OperatorError as error:
        raise click.ClickException(str(error)) from None


def _stack_parameter(stack: str, region: str | None, key: str) -> str:
    try:
        return stack_parameter(stack, region, key)
    except OperatorError as error:
        raise click.ClickException(str(error)) from None
