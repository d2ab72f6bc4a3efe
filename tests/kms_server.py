"""A Cloud KMS test server: the real `google.cloud.kms.v1.KeyManagementService` gRPC surface, in-process.

No KMS emulator exists (emulators.md, "Cloud KMS"), and the REST-only fakes return reversible
"ciphertexts". This one speaks gRPC, so the production client and Tink are what the tests exercise:

    with run_kms_server() as kms:              # 127.0.0.1:<free port>, stopped on exit
        client = kms_client(kms.host)          # shared.crypto.factory: the real client, insecure channel
        key = kms.create_key("proj", "global", "ring", "key")      # version 1, primary
        kms.add_version(key); kms.set_primary(key, 2); kms.set_enabled(key, 1, enabled=False)
        kms.stop(); kms.start()                # "KMS down", then back on the same port (keys kept)
        kms.hold(); kms.release()              # "KMS hung": calls get no answer until released

Methods: CreateKeyRing, CreateCryptoKey (version 1 primary unless skipped), GetCryptoKey,
CreateCryptoKeyVersion, UpdateCryptoKeyPrimaryVersion, UpdateCryptoKeyVersion (state ENABLED/DISABLED),
Encrypt and Decrypt. Each version has its own AES-256-GCM key (`cryptography`); the caller's
`additional_authenticated_data` is enforced. A ciphertext is `version id (4 bytes, big endian) ‖ nonce ‖
GCM ciphertext and tag`, the GCM associated data being the version's resource name and the caller's AAD,
so Decrypt picks the version that encrypted it, as the real service does. Errors follow the real API:
unknown resource NOT_FOUND, a version not enabled FAILED_PRECONDITION, a ciphertext that does not open
(wrong AAD, tampered, another key's) INVALID_ARGUMENT, an existing id ALREADY_EXISTS.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, NoReturn

import grpc
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.cloud import kms

__all__ = ["SERVICE", "KmsServer", "run_kms_server"]

SERVICE = "google.cloud.kms.v1.KeyManagementService"
_NONCE_BYTES = 12
_HEADER = struct.Struct(">I")
_ENABLED = kms.CryptoKeyVersion.CryptoKeyVersionState.ENABLED
_DISABLED = kms.CryptoKeyVersion.CryptoKeyVersionState.DISABLED
_GRACE_SECONDS = 0.5
# How long a held call waits at most for `release` (a safety net: `stop` releases it anyway).
_HOLD_LIMIT_SECONDS = 30.0


@dataclass
class _Version:
    number: int
    secret: bytes
    enabled: bool = True


@dataclass
class _Key:
    name: str
    versions: dict[int, _Version] = field(default_factory=dict)
    primary: int | None = None

    def version_name(self, number: int) -> str:
        return f"{self.name}/cryptoKeyVersions/{number}"

    def add_version(self) -> _Version:
        version = _Version(number=len(self.versions) + 1, secret=AESGCM.generate_key(256))
        self.versions[version.number] = version
        return version

    def message(self) -> kms.CryptoKey:
        key = kms.CryptoKey(name=self.name, purpose=kms.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT)
        if self.primary is not None:
            key.primary = self.version_message(self.versions[self.primary])
        return key

    def version_message(self, version: _Version) -> kms.CryptoKeyVersion:
        state = _ENABLED if version.enabled else _DISABLED
        return kms.CryptoKeyVersion(name=self.version_name(version.number), state=state)


class _Abort(Exception):
    """Raised inside the state; the handler turns it into the gRPC status."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _State:
    """Key rings, keys and versions; every gRPC thread goes through one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answering = threading.Event()  # cleared by `hold`: calls wait, as on a hung service
        self.answering.set()
        self.key_rings: set[str] = set()
        self.keys: dict[str, _Key] = {}

    def key(self, name: str) -> _Key:
        key = self.keys.get(name)
        if key is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"CryptoKey {name} not found.")
        return key

    def version(self, name: str) -> tuple[_Key, _Version]:
        """A `.../cryptoKeyVersions/N` name."""
        key_name, _, number = name.rpartition("/cryptoKeyVersions/")
        key = self.key(key_name)
        version = key.versions.get(int(number)) if number.isdigit() else None
        if version is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"CryptoKeyVersion {name} not found.")
        return key, version

    def create_key_ring(self, request: kms.CreateKeyRingRequest) -> kms.KeyRing:
        name = f"{request.parent}/keyRings/{request.key_ring_id}"
        if name in self.key_rings:
            raise _Abort(grpc.StatusCode.ALREADY_EXISTS, f"KeyRing {name} already exists.")
        self.key_rings.add(name)
        return kms.KeyRing(name=name)

    def create_crypto_key(self, request: kms.CreateCryptoKeyRequest) -> kms.CryptoKey:
        if request.parent not in self.key_rings:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"KeyRing {request.parent} not found.")
        name = f"{request.parent}/cryptoKeys/{request.crypto_key_id}"
        if name in self.keys:
            raise _Abort(grpc.StatusCode.ALREADY_EXISTS, f"CryptoKey {name} already exists.")
        key = self.keys[name] = _Key(name=name)
        if not request.skip_initial_version_creation:
            key.primary = key.add_version().number
        return key.message()

    def get_crypto_key(self, request: kms.GetCryptoKeyRequest) -> kms.CryptoKey:
        return self.key(request.name).message()

    def create_crypto_key_version(self, request: kms.CreateCryptoKeyVersionRequest) -> kms.CryptoKeyVersion:
        key = self.key(request.parent)
        return key.version_message(key.add_version())

    def update_primary(self, request: kms.UpdateCryptoKeyPrimaryVersionRequest) -> kms.CryptoKey:
        key, version = self.version(f"{request.name}/cryptoKeyVersions/{request.crypto_key_version_id}")
        if not version.enabled:
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, "The primary version must be ENABLED.")
        key.primary = version.number
        return key.message()

    def update_version(self, request: kms.UpdateCryptoKeyVersionRequest) -> kms.CryptoKeyVersion:
        if list(request.update_mask.paths) != ["state"]:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Only update_mask.paths=['state'] is supported here.")
        key, version = self.version(request.crypto_key_version.name)
        if request.crypto_key_version.state not in (_ENABLED, _DISABLED):
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "state must be ENABLED or DISABLED.")
        version.enabled = request.crypto_key_version.state == _ENABLED
        return key.version_message(version)

    def encrypt(self, request: kms.EncryptRequest) -> kms.EncryptResponse:
        if "/cryptoKeyVersions/" in request.name:
            key, version = self.version(request.name)
        else:
            key = self.key(request.name)
            if key.primary is None:
                raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, f"CryptoKey {key.name} has no primary version.")
            version = key.versions[key.primary]
        version_name = key.version_name(version.number)
        if not version.enabled:
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, f"{version_name} is not enabled.")
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(version.secret).encrypt(nonce, request.plaintext, _aad(version_name, request))
        return kms.EncryptResponse(name=version_name, ciphertext=_HEADER.pack(version.number) + nonce + sealed)

    def decrypt(self, request: kms.DecryptRequest) -> kms.DecryptResponse:
        key = self.key(request.name)
        invalid = _Abort(grpc.StatusCode.INVALID_ARGUMENT, "Decryption failed: the ciphertext is invalid.")
        ciphertext = request.ciphertext
        if len(ciphertext) < _HEADER.size + _NONCE_BYTES:
            raise invalid
        (number,) = _HEADER.unpack_from(ciphertext)
        version = key.versions.get(number)
        if version is None:
            raise invalid
        version_name = key.version_name(number)
        if not version.enabled:
            raise _Abort(grpc.StatusCode.FAILED_PRECONDITION, f"{version_name} is not enabled.")
        nonce, sealed = (
            ciphertext[_HEADER.size : _HEADER.size + _NONCE_BYTES],
            ciphertext[_HEADER.size + _NONCE_BYTES :],
        )
        try:
            plaintext = AESGCM(version.secret).decrypt(nonce, sealed, _aad(version_name, request))
        except InvalidTag:
            raise invalid from None
        return kms.DecryptResponse(plaintext=plaintext, used_primary=number == key.primary)


def _aad(version_name: str, request: kms.EncryptRequest | kms.DecryptRequest) -> bytes:
    # Length-prefixed, so no (name, aad) pair can be made to look like another.
    name = version_name.encode()
    return _HEADER.pack(len(name)) + name + request.additional_authenticated_data


# Method name -> (state method, request class, response class).
_METHODS: dict[str, tuple[Callable[[_State, Any], Any], type[Any], type[Any]]] = {
    "CreateKeyRing": (_State.create_key_ring, kms.CreateKeyRingRequest, kms.KeyRing),
    "CreateCryptoKey": (_State.create_crypto_key, kms.CreateCryptoKeyRequest, kms.CryptoKey),
    "GetCryptoKey": (_State.get_crypto_key, kms.GetCryptoKeyRequest, kms.CryptoKey),
    "CreateCryptoKeyVersion": (
        _State.create_crypto_key_version,
        kms.CreateCryptoKeyVersionRequest,
        kms.CryptoKeyVersion,
    ),
    "UpdateCryptoKeyPrimaryVersion": (_State.update_primary, kms.UpdateCryptoKeyPrimaryVersionRequest, kms.CryptoKey),
    "UpdateCryptoKeyVersion": (_State.update_version, kms.UpdateCryptoKeyVersionRequest, kms.CryptoKeyVersion),
    "Encrypt": (_State.encrypt, kms.EncryptRequest, kms.EncryptResponse),
    "Decrypt": (_State.decrypt, kms.DecryptRequest, kms.DecryptResponse),
}


def _handler(state: _State, method: Callable[[_State, Any], Any]) -> Callable[[Any, grpc.ServicerContext], Any]:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        state.answering.wait(_HOLD_LIMIT_SECONDS)
        try:
            with state.lock:
                return method(state, request)
        except _Abort as error:
            _abort(context, error)

    return handle


def _abort(context: grpc.ServicerContext, error: _Abort) -> NoReturn:
    context.abort(error.code, error.details)
    raise AssertionError("unreachable: ServicerContext.abort raises")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class KmsServer:
    """The gRPC server on 127.0.0.1 and a free port, plus direct control of its keys for the tests.

    `stop` takes it off the network (connections are refused: "KMS down"); `start` brings it back on the
    same port with the same keys.
    """

    def __init__(self) -> None:
        self.port = _free_port()
        self._state = _State()
        self._server: grpc.Server | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            return
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(
                _handler(self._state, method),
                request_deserializer=request.deserialize,
                response_serializer=response.serialize,
            )
            for name, (method, request, response) in _METHODS.items()
        }
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        if server.add_insecure_port(self.host) != self.port:
            raise RuntimeError(f"the KMS test server could not bind {self.host}")
        server.start()
        self._server = server

    def stop(self) -> None:
        self.release()  # held handler threads must end for the server's pool to shut down
        if self._server is None:
            return
        self._server.stop(_GRACE_SECONDS).wait()
        self._server = None

    def hold(self) -> None:
        """Accept calls but answer none until `release`: the client's deadline is what ends them."""
        self._state.answering.clear()

    def release(self) -> None:
        self._state.answering.set()

    # Direct control, as an operator with the console would have it (no RPC needed).

    def create_key(self, project: str, location: str, key_ring: str, key_id: str) -> str:
        """Create the key ring if needed and the key with version 1 as primary; returns the key's name."""
        ring = f"projects/{project}/locations/{location}/keyRings/{key_ring}"
        with self._state.lock:
            self._state.key_rings.add(ring)
            request = kms.CreateCryptoKeyRequest(parent=ring, crypto_key_id=key_id)
            return str(self._state.create_crypto_key(request).name)

    def add_version(self, key_name: str) -> int:
        with self._state.lock:
            return self._state.key(key_name).add_version().number

    def set_primary(self, key_name: str, version: int) -> None:
        with self._state.lock:
            self._state.key(key_name).primary = self._state.key(key_name).versions[version].number

    def set_enabled(self, key_name: str, version: int, *, enabled: bool) -> None:
        with self._state.lock:
            self._state.key(key_name).versions[version].enabled = enabled


@contextlib.contextmanager
def run_kms_server() -> Iterator[KmsServer]:
    """A fresh server with no keys, stopped on exit."""
    server = KmsServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
