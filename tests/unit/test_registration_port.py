"""The use cases see the registration store through its port; the DynamoDB adapter implements it.

mypy checks the signatures where the composition roots (runtime, the import) hand the adapter to a use
case; this checks at run time that no method of the port is missing from the adapter.
"""

from __future__ import annotations

from datetime import timedelta

from push_registry.registration_storage import RegistrationStorage
from push_registry.storage import RegistrationStore


def test_the_dynamodb_adapter_implements_the_port() -> None:
    assert isinstance(RegistrationStore(object(), "registry"), RegistrationStorage)


def test_an_object_missing_a_method_of_the_port_does_not() -> None:
    class Partial:
        lease = timedelta(days=7)

        def get(self, owner: str, digest: str) -> None:
            return None

    assert not isinstance(Partial(), RegistrationStorage)
