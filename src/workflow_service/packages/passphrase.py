"""Secure values in a package, encrypted with the exporter's passphrase: scrypt (RFC 7914) derives a 256-bit
key from the passphrase and a random salt (one per package, its parameters in `env_variables.json`), and
AES-256-GCM encrypts each value with a random 12-byte nonce, the variable's name as associated data (a value
moved to another name does not decrypt). Both from `cryptography`; any implementation of the two can read a
package."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from workflow_service.packages.spec import Encrypted, KeyDerivation

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
"""The cost this release writes (about 50 ms and 32 MiB); a package's own parameters are used to read it."""
MAX_SCRYPT_N = 2**20
"""The highest cost a package may ask for (a hostile package could ask for hours)."""


class WrongPassphrase(Exception):
    """The passphrase does not decrypt the value (or the package was altered)."""


def new_key(passphrase: str) -> tuple[KeyDerivation, bytes]:
    """A fresh salt, and the key the passphrase makes with it."""
    derivation = KeyDerivation(salt=_b64(os.urandom(16)), n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return derivation, derive(passphrase, derivation)


def derive(passphrase: str, derivation: KeyDerivation) -> bytes:
    """The key of `passphrase` under a package's parameters (ValueError for parameters out of bounds)."""
    if derivation.n > MAX_SCRYPT_N or derivation.n & (derivation.n - 1) or derivation.r * derivation.p > 64:
        raise ValueError("the package's key derivation parameters are out of bounds")
    kdf = Scrypt(salt=base64.b64decode(derivation.salt), length=32, n=derivation.n, r=derivation.r, p=derivation.p)
    return kdf.derive(passphrase.encode())


def encrypt(key: bytes, name: str, value: str) -> Encrypted:
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, value.encode(), name.encode())
    return Encrypted(nonce=_b64(nonce), ciphertext=_b64(ciphertext))


def decrypt(key: bytes, name: str, encrypted: Encrypted) -> str:
    try:
        plain = AESGCM(key).decrypt(
            base64.b64decode(encrypted.nonce), base64.b64decode(encrypted.ciphertext), name.encode()
        )
    except (InvalidTag, ValueError) as exc:
        raise WrongPassphrase(name) from exc
    return plain.decode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
