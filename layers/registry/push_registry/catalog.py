"""The catalog of the registry's APIs: each named once, with its dialect, its functions and their routes.

Pure data, importing nothing of the registry: the functions, the apis, the tests, local/ and the template
checks all read it, so an API added here is one the dashboard, the alarms, the JWT-attack and fault
suites and the table's invariant checker cannot leave out (docs/development.md, "Adding a client API").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Auth(StrEnum):
    """Who may call an API's routes."""

    JWT = "jwt"  # a bearer token of the mobile app's issuer (push_registry.auth)
    IAM = "iam"  # the sender side, SigV4-signed (the template's AWS_IAM authoriser)
    NONE = "none"  # unauthenticated, rate-limited (the pre-signup route)


class DeviceInfo(StrEnum):
    """The `device_info` vocabulary every API stores under (docs/architecture.md, "The table").

    Each API maps its own request fields onto these shared keys, so that any API can describe a
    registration another created: the accounts API lists a camera app's registration, the sender side
    reads `app_version` and `language` whichever API wrote them.
    """

    APP_TYPE = "app_type"  # the camera app's `app.type`
    APP_VERSION = "app_version"
    BROWSER = "browser"
    BROWSER_VERSION = "browser_version"
    COUNTRY = "country"  # the camera app's `countryNo`
    DEVICE_MODEL = "device_model"  # seed 004's name of the model
    LANGUAGE = "language"
    MODEL = "model"  # the chat backoffice's name of the model
    MODULE = "module"  # user-push-tokens' `module`
    OS = "os"  # the operating system's name (user-push-tokens' `device_os`, the chat backoffice's `os`)
    OS_VERSION = "os_version"
    TYPE = "type"  # the chat backoffice's device type


@dataclass(frozen=True)
class Function:
    """One Lambda function: `functions/<folder>/app.py`, `events/<folder>.json`, one template resource."""

    folder: str
    method: str | None = None  # its one API Gateway route; None for a queue consumer
    path: str | None = None

    @property
    def logical_id(self) -> str:
        """Its resource in template.yaml: accounts_register_device -> AccountsRegisterDeviceFunction."""
        return "".join(part.capitalize() for part in self.folder.split("_")) + "Function"

    @property
    def deployed_name(self) -> str:
        """Its FunctionName, with `${Stage}` left in (as the template's `!Sub` writes it)."""
        return "push-registry-${Stage}-" + self.folder.replace("_", "-")

    @property
    def on_one_item(self) -> bool:
        """Whether the route acts on one item of a collection (its path ends in a `{parameter}`)."""
        return self.path is not None and self.path.rsplit("/", 1)[-1].startswith("{")


@dataclass(frozen=True)
class Api:
    """One API the registry serves."""

    name: str  # the metric dimension `api`, the log field `api`, and the `source` of what it registers
    seed: str | None  # the seed contract it reproduces, None for the registry's own
    docs: str  # its page, under docs/
    dialect: str  # its renderer, push_registry.dialects.<dialect>
    auth: Auth
    functions: tuple[Function, ...]
    registers: bool = False  # stores registrations (with `name` as their source): a client API
    push_field: str | None = None  # the request body's field that carries the push token
    device_info: tuple[DeviceInfo, ...] = ()  # the keys it stores in a registration's device_info

    def function(self, folder: str) -> Function:
        return next(f for f in self.functions if f.folder == folder)


ACCOUNTS = Api(
    "accounts",
    "004",
    "apis/accounts.md",
    "accounts",
    Auth.JWT,
    (
        Function("accounts_register_device", "POST", "/api/accounts/{accountId}/devices"),
        Function("accounts_list_devices", "GET", "/api/accounts/{accountId}/devices"),
        Function("accounts_update_device", "PATCH", "/api/accounts/{accountId}/devices/{deviceId}"),
        Function("accounts_deactivate_device", "DELETE", "/api/accounts/{accountId}/devices/{deviceId}"),
    ),
    registers=True,
    push_field="device_token",
    device_info=(DeviceInfo.APP_VERSION, DeviceInfo.OS_VERSION, DeviceInfo.DEVICE_MODEL),
)
CAMERA = Api(
    "camera",
    "000",
    "apis/camera.md",
    "base_response",
    Auth.JWT,
    (Function("camera_set_user_token", "POST", "/user/setusertoken"),),
    registers=True,
    push_field="msgToken",
    device_info=(DeviceInfo.APP_TYPE, DeviceInfo.APP_VERSION, DeviceInfo.COUNTRY, DeviceInfo.LANGUAGE),
)
USER_PUSH_TOKENS = Api(
    "user-push-tokens",
    "002",
    "apis/user-push-tokens.md",
    "nest",
    Auth.JWT,
    (Function("user_push_tokens_register", "POST", "/v1/user-push-tokens/register"),),
    registers=True,
    push_field="push_token",
    device_info=(DeviceInfo.OS, DeviceInfo.APP_VERSION, DeviceInfo.MODULE),
)
PIGEONS = Api(
    "pigeons",
    "001",
    "apis/chat-backoffice.md",
    "laravel",
    Auth.JWT,
    (
        Function("pigeons_register_device", "POST", "/api/v1/pigeons/chat/devices"),
        Function("pigeons_delete_device", "DELETE", "/api/v1/pigeons/chat/devices/{id}"),
    ),
    registers=True,
    push_field="token",
    device_info=(
        DeviceInfo.TYPE,
        DeviceInfo.OS,
        DeviceInfo.OS_VERSION,
        DeviceInfo.APP_VERSION,
        DeviceInfo.MODEL,
        DeviceInfo.BROWSER,
        DeviceInfo.BROWSER_VERSION,
    ),
)
PRESIGNUP = Api(
    "presignup",
    "003",
    "apis/pre-signup.md",
    "public",
    Auth.NONE,
    (Function("presignup_register_token", "POST", "/api/public/fcm-token"),),
    push_field="fcmToken",
)
INTERNAL = Api(
    "internal",
    None,
    "sender-side.md",
    "internal",
    Auth.IAM,
    (
        Function("internal_user_tokens", "GET", "/internal/users/{userId}/tokens"),
        Function("internal_presignup_lookup", "POST", "/internal/presignup-tokens/lookup"),
        Function("internal_token_holder", "POST", "/internal/tokens/holder"),
        Function("internal_token_invalidations", "POST", "/internal/tokens/invalidations"),
        Function("token_invalidations_queue"),
        Function("internal_user_erase", "DELETE", "/internal/users/{userId}"),
        Function("internal_user_export", "GET", "/internal/users/{userId}/export"),
        Function("internal_presignup_erase", "POST", "/internal/presignup-tokens/erase"),
        Function("internal_presignup_export", "POST", "/internal/presignup-tokens/export"),
        Function("privacy_erasures_queue"),
    ),
)

# Every API, in the template's order; the client APIs are those that register devices.
APIS: tuple[Api, ...] = (ACCOUNTS, CAMERA, USER_PUSH_TOKENS, PIGEONS, PRESIGNUP, INTERNAL)
CLIENT_APIS: tuple[Api, ...] = tuple(api for api in APIS if api.registers)
FUNCTIONS: tuple[Function, ...] = tuple(function for api in APIS for function in api.functions)


def api_of(folder: str) -> Api:
    """The API a function (by its folder) belongs to."""
    return next(api for api in APIS if any(f.folder == folder for f in api.functions))


def creator_of(function: Function) -> Function | None:
    """The POST that creates the item a route on one item acts on (its collection's), if the API has one."""
    if not function.on_one_item or function.path is None:
        return None
    collection = function.path.rsplit("/", 1)[0]
    api = api_of(function.folder)
    return next((f for f in api.functions if (f.method, f.path) == ("POST", collection)), None)
