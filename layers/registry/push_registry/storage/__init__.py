"""The DynamoDB adapter: the only package that knows the table's keys, conditions and error codes.

One module per item family: `registrations` (registrations, their list entries, token guards and
tombstones: the store the use cases know by its port, `registration_storage.RegistrationStorage`),
`presignup` (pre-signup records and their guards), `counters` (rate-limit counters); `table` holds the
calls they share.

The registrations' store is one module per kind of request: `registration_reads`, `token_writes`
(the writes that take, keep, move or hand on a token) with `roster` (the owner's cap and its
evictions), `heartbeats` (touch and refresh), `deactivations`, and `owner_data` (an owner's export and
erasure); `registration_parts` builds their transactions' parts, `registration_items` the items' keys
and attributes.
"""

from push_registry.storage.counters import RequestCounter
from push_registry.storage.presignup import PreSignupStore
from push_registry.storage.registrations import RegistrationStore

__all__ = ["PreSignupStore", "RegistrationStore", "RequestCounter"]
