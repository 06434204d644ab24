"""push_registry.catalog names every API once: the functions, the apis and the suites that list the APIs
read it, and these checks fail when the code and the catalog drift apart."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from ops import sources as import_sources
from ops.sources import PINPOINT
from push_registry import catalog
from push_registry.apis import accounts, camera, pigeons, user_push_tokens
from push_registry.catalog import DeviceInfo
from tests.api import invariants

ROOT = Path(__file__).resolve().parents[2]
CONSTANTS = {
    api.name: name for name, api in vars(catalog).items() if isinstance(api, catalog.Api) and name.isupper()
}


def test_every_api_is_named_once_and_every_function_belongs_to_one() -> None:
    assert len({api.name for api in catalog.APIS}) == len(catalog.APIS)
    assert set(CONSTANTS) == {api.name for api in catalog.APIS}, "each API has its constant in the catalog"
    folders = [function.folder for function in catalog.FUNCTIONS]
    assert len(folders) == len(set(folders))
    assert sorted(folders) == sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
    assert [api.name for api in catalog.CLIENT_APIS] == ["accounts", "camera", "user-push-tokens", "pigeons"]


@pytest.mark.parametrize("function", catalog.FUNCTIONS, ids=lambda f: f.folder)
def test_each_function_names_its_api_and_renders_in_its_dialect_from_the_catalog(
    function: catalog.Function,
) -> None:
    api = catalog.api_of(function.folder)
    source = (ROOT / "functions" / function.folder / "app.py").read_text()
    assert not re.search(r'api="|@endpoint\("', source), "the API's name is the catalog's, not a string"
    if function.path is None:  # a queue consumer: its metrics carry its API's dimension
        assert f"metrics.set_default_dimensions(api=catalog.{CONSTANTS[api.name]}.name)" in source
        return
    assert f"@endpoint(catalog.{CONSTANTS[api.name]}.name, dialect)" in source
    assert f"from push_registry.dialects.{api.dialect} import " in source
    assert source.startswith(f'"""{function.method} {function.path}'), "its docstring names its route"


def test_the_dialects_of_the_catalog_are_the_dialect_modules() -> None:
    modules = {p.stem for p in (ROOT / "layers/registry/push_registry/dialects").glob("*.py")}
    assert {api.dialect for api in catalog.APIS} <= modules


def test_each_api_has_its_page_in_the_docs_named_by_its_seed() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    for api in catalog.APIS:
        assert (ROOT / "docs" / api.docs).is_file(), api.docs
        [entry] = [line for line in nav.splitlines() if line.endswith(f": {api.docs}")]
        assert api.seed is None or f"(seed {api.seed})" in entry, entry


def test_each_client_api_registers_under_its_catalog_name() -> None:
    assert {module.SOURCE for module in (accounts, camera, user_push_tokens, pigeons)} == {
        api.name for api in catalog.CLIENT_APIS
    }


def test_the_invariant_checker_knows_every_source_of_the_catalog() -> None:
    assert frozenset({api.name for api in catalog.CLIENT_APIS} | {PINPOINT}) == invariants.SOURCES


def test_the_importer_adopts_records_as_client_apis_of_the_catalog() -> None:
    """Each existing system's export is imported as one client API (or as Pinpoint's); a new client API
    with no system before it needs no import source."""
    assert set(import_sources.SOURCES) - {PINPOINT} <= {api.name for api in catalog.CLIENT_APIS}


def test_the_routes_on_one_item_are_created_by_their_collections_post() -> None:
    creators = {f.folder: c.folder for f in catalog.FUNCTIONS if (c := catalog.creator_of(f))}
    assert creators == {
        "accounts_update_device": "accounts_register_device",
        "accounts_deactivate_device": "accounts_register_device",
        "pigeons_delete_device": "pigeons_register_device",
    }


# Each client API's request with every field it stores, as the seed's clients send it: the device_info it
# stores is the catalog's, in the shared vocabulary.
_FULL: dict[str, Callable[[], dict[str, str]]] = {
    catalog.ACCOUNTS.name: lambda: (
        accounts.new_device(
            {
                "device_token": "t" * 40,
                "platform": "android",
                "device_info": {"app_version": "1", "os_version": "2", "device_model": "3"},
            }
        ).device_info
    ),
    catalog.CAMERA.name: lambda: (
        camera.token_entry(
            {
                "msgType": "FCM",
                "msgToken": "t" * 40,
                "app": {"type": "android", "version": "1"},
                "countryNo": "55",
                "language": "pt",
            }
        ).device_info
    ),
    catalog.USER_PUSH_TOKENS.name: lambda: (
        user_push_tokens.registration_request(
            {"push_token": "t" * 40, "device_os": "Android", "app_ver": "1", "module": "main"}
        ).device_info
    ),
    catalog.PIGEONS.name: lambda: (
        pigeons.device_request(
            {
                "token": "t" * 40,
                "platform": "web",
                "device": dict.fromkeys(("type", "os", "os_version", "app_version", "model"), "x")
                | {"browser": "x", "browser_version": "x"},
            },
            "tenant",
        ).device_info
    ),
}


@pytest.mark.parametrize("api", catalog.CLIENT_APIS, ids=lambda api: api.name)
def test_each_client_api_stores_the_device_info_keys_the_catalog_names(api: catalog.Api) -> None:
    stored = _FULL[api.name]()
    assert set(stored) == set(api.device_info)
    assert set(api.device_info) <= set(DeviceInfo)


def test_the_accounts_api_describes_the_other_apis_registrations_from_the_shared_keys() -> None:
    """What the accounts API reads of device_info is in the vocabulary the others write."""
    written = {key for api in catalog.CLIENT_APIS for key in api.device_info}
    assert {DeviceInfo.OS, DeviceInfo.MODEL, DeviceInfo.APP_VERSION, DeviceInfo.OS_VERSION} <= written
    assert set(DeviceInfo) == written, "a key no API writes is not part of the vocabulary"
