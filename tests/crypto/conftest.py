"""The Cloud KMS test server (tests/kms_server.py) and the real gRPC client on it, per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.cloud import kms

from shared.crypto.factory import kms_client
from tests.kms_server import KmsServer, run_kms_server


@pytest.fixture
def kms_server() -> Iterator[KmsServer]:
    with run_kms_server() as server:
        yield server


@pytest.fixture
def client(kms_server: KmsServer) -> Iterator[kms.KeyManagementServiceClient]:
    client = kms_client(kms_server.host)
    yield client
    client.transport.close()  # type: ignore[no-untyped-call]  # google-api-core leaves it unannotated


@pytest.fixture
def key_name(kms_server: KmsServer) -> str:
    return kms_server.create_key("demo-test", "global", "gateway", "provider-keys")
