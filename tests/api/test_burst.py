"""The local API under a burst: many clients connecting at the same instant are all answered."""

from __future__ import annotations

import http.client
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from tests.api.helpers import new_user

pytestmark = pytest.mark.integration

CLIENTS = 200


def test_two_hundred_clients_connecting_at_once_are_all_answered(local_api: str) -> None:
    """What a load tool or a concurrency test does in its first second: no connection is opened
    before the start signal, so the 200 handshakes reach the listen queue together.

    The requests carry no credentials, so each is answered by the handler without a DynamoDB call:
    what is measured is the server taking the connections, not the database's throughput on a
    shared machine.
    """
    address = urlsplit(local_api)
    start = threading.Barrier(CLIENTS)

    def one_client(_: int) -> int | str:
        connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=60)
        start.wait()
        try:
            # The connection opens here, inside request(), after every client passed the barrier.
            connection.request("GET", f"/api/accounts/{new_user()}/devices")
            return connection.getresponse().status
        except OSError as error:
            return type(error).__name__
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        answers = list(pool.map(one_client, range(CLIENTS)))

    failures = [answer for answer in answers if answer != 401]
    assert not failures, f"{len(failures)} of {CLIENTS} not answered 401: {sorted(set(map(str, failures)))}"
