"""The DynamoDB adapter: the only package that knows the table's keys, conditions and error codes.

One module per item family: `registrations` (registrations, their list entries, token guards and
tombstones, with `registration_items` for their keys and attributes and `owner_data` for an owner's
export and erasure), `presignup` (pre-signup records and their guards), `counters` (rate-limit
counters); `table` holds the calls they share.
"""

from push_registry.storage.counters import RequestCounter
from push_registry.storage.presignup import PreSignupStore
from push_registry.storage.registrations import RegistrationStore

__all__ = ["PreSignupStore", "RegistrationStore", "RequestCounter"]
