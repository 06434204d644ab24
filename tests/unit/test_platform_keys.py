"""The chat backoffice's platform keys, read from an SSM SecureString parameter as deployed."""

from __future__ import annotations

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from push_registry.errors import UnknownPlatformKey
from push_registry.platform_keys import PlatformKeys, parameter_name
from push_registry.settings import Settings


@pytest.mark.parametrize(
    ("stack_parameter", "stored_as"),
    [("push-registry/pigeons-keys", "/push-registry/pigeons-keys"), ("pigeons-keys", "pigeons-keys")],
)
def test_the_stack_parameters_name_without_its_leading_slash_reads_the_ssm_parameter(
    stack_parameter: str, stored_as: str
) -> None:
    """SSM refuses `a/b` (a hierarchical name must start with a slash); the stack parameter has none."""
    parameters.clear_caches()
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name=stored_as, Value="tenant-a=pk_a,tenant-b=pk_b", Type="SecureString")
        keys = PlatformKeys(
            Settings(table_name="push-registry", pigeons_public_keys_parameter=stack_parameter)
        )
        assert (keys.tenant_of("pk_a"), keys.tenant_of("pk_b")) == ("tenant-a", "tenant-b")
        with pytest.raises(UnknownPlatformKey):
            keys.tenant_of("pk_local_pigeons")
    parameters.clear_caches()


def test_a_name_already_written_with_its_slash_is_asked_as_it_is() -> None:
    assert parameter_name("/push-registry/pigeons-keys") == "/push-registry/pigeons-keys"
