"""The local API: every route of template.yaml served over HTTP by the same handler modules.

`python -m local.server --port 3000` starts DynamoDB Local (unless --dynamodb-endpoint is given),
creates the table from the template and turns each HTTP request into the API Gateway REST proxy
event the deployed function would receive.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import os
import re
import signal
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

import boto3

from local import aws_limits
from local.devtoken import DEVELOPMENT_PLATFORM_KEYS, DEVELOPMENT_SECRET
from local.dynamodb_local import DynamoDBLocal
from local.events import LambdaContext, ResponseTooLarge, build_rest_event, check_response_size
from local.template import ROOT, Route, create_table, global_environment, load_template, routes

LOCAL_TABLE = "push-registry-local"
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
_modules: dict[Path, ModuleType] = {}
_modules_lock = threading.Lock()


def configure_environment(table_name: str, endpoint_url: str) -> None:
    """What Lambda would give the functions, resolved for local use; variables already set win."""
    template = load_template()
    parameters = template.get("Parameters", {})
    for name, value in global_environment(template).items():
        resolved = value
        if isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            resolved = (
                table_name if ref == "RegistryTable" else str(parameters.get(ref, {}).get("Default", ""))
            )
        if resolved != "":  # an empty template value means "unset", not "override the local default"
            os.environ.setdefault(name, str(resolved))
    os.environ["TABLE_NAME"] = table_name
    os.environ["DYNAMODB_ENDPOINT_URL"] = endpoint_url
    os.environ.setdefault("JWT_SECRET", DEVELOPMENT_SECRET)
    os.environ.setdefault("PIGEONS_PUBLIC_KEYS", DEVELOPMENT_PLATFORM_KEYS)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    layer = str(ROOT / "layers" / "registry")  # what Lambda mounts at /opt/python
    if layer not in sys.path:
        sys.path.insert(0, layer)


def load_function(code_dir: Path, handler: str = "app.handler") -> ModuleType:
    """Import a function's module once, under a unique name (every function's file is app.py)."""
    module_file = code_dir / f"{handler.rsplit('.', 1)[0]}.py"
    with _modules_lock:
        if module_file not in _modules:
            spec = importlib.util.spec_from_file_location(f"function_{code_dir.name}", module_file)
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _modules[module_file] = module
        return _modules[module_file]


def _pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", path)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}/?$")


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[list[tuple[re.Pattern[str], Route]]] = []
    access_log: ClassVar[bool] = True
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        started = time.monotonic()
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._write(413, {"Content-Type": "application/json"}, b'{"message":"Request Too Long"}')
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        status = self._dispatch(split.path, split.query, body)
        # One line per request, never headers or bodies: they carry JWTs and push tokens.
        if self.access_log:
            print(
                f"{self.command} {split.path} {status} {1000 * (time.monotonic() - started):.1f}ms",
                flush=True,
            )

    def _dispatch(self, raw_path: str, query: str, body: bytes) -> int:
        for pattern, route in self.routes:
            match = pattern.match(raw_path)
            if match and route.method == self.command:
                break
        else:
            # What API Gateway answers for an unknown route or method, given the template's
            # MISSING_AUTHENTICATION_TOKEN gateway response.
            return self._write(404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}')
        event = build_rest_event(
            route,
            raw_path=raw_path,
            path_parameters={name: unquote(value) for name, value in match.groupdict().items()},
            query=parse_qsl(query, keep_blank_values=True),
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
        )
        try:
            result = load_function(route.code_dir, route.handler).handler(
                event, LambdaContext(route.function, timeout_ms=1000 * route.timeout_seconds)
            )
            check_response_size(result)
        except ResponseTooLarge as refused:
            print(f"{route.function}: Lambda refuses this result: {refused}", file=sys.stderr, flush=True)
            return self._lambda_failed()
        except Exception:
            traceback.print_exc()
            return self._lambda_failed()
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode("utf-8")
        headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        return self._write(int(result["statusCode"]), headers, data)

    def _lambda_failed(self) -> int:
        """What API Gateway answers when the function fails (an error, or a result Lambda refuses)."""
        return self._write(502, {"Content-Type": "application/json"}, b'{"message": "Internal server error"}')

    def _write(self, status: int, headers: dict[str, str], data: bytes) -> int:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return status

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the default line would include the full request path with its query string."""


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with a listen backlog for bursts.

    socketserver's default backlog is 5: a load tool or a concurrency test opening a few dozen
    connections in its first second overflows it, and the kernel drops or resets the surplus.
    """

    request_queue_size = 1024  # the kernel caps it at net.core.somaxconn (4096 on current Linux)
    daemon_threads = True


class LocalApi:
    """The local API in a background thread (for tests): `.base_url`, `.stop()`."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", access_log: bool = True) -> None:
        # The handlers' DynamoDB clients, built at their first request, refuse what DynamoDB refuses.
        aws_limits.install()
        handler = type(
            "RouteHandler",
            (_Handler,),
            {"routes": [(_pattern(r.path), r) for r in routes(load_template())], "access_log": access_log},
        )
        self._server = _Server((host, port), handler)
        self.base_url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LocalApi:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--dynamodb-endpoint", help="use this DynamoDB instead of starting DynamoDB Local")
    args = parser.parse_args()

    database = None
    endpoint = args.dynamodb_endpoint
    if endpoint is None:
        database = DynamoDBLocal(int(os.environ.get("DYNAMODB_PORT", "8000")))
        endpoint = database.endpoint_url
    configure_environment(LOCAL_TABLE, endpoint)
    client = boto3.client("dynamodb", endpoint_url=endpoint)
    create_table(client, LOCAL_TABLE, load_template())
    api = LocalApi(args.port, args.host)

    def stop(*_: object) -> None:
        threading.Thread(target=api.stop, daemon=True).start()

    # Explicit handlers: a server started in the background of a script inherits an ignored SIGINT.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"DynamoDB: {endpoint} (table {LOCAL_TABLE})", flush=True)
    print(f"API: {api.base_url}  (Ctrl-C stops)", flush=True)
    for route in routes(load_template()):
        print(f"  {route.method:6} {route.path} -> {route.function}", flush=True)
    try:
        api.serve_forever()
    finally:
        if database is not None:
            database.stop()


if __name__ == "__main__":
    main()
