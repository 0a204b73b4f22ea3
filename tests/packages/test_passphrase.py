"""Secure values encrypted with a passphrase (packages/passphrase.py): they decrypt with the same passphrase and
name only, any change to the package is found, a package cannot ask for an unbounded key derivation, and the
scheme is the documented one (scrypt, then AES-256-GCM with the name as associated data), which standard
libraries read without this module."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workflow_service.packages import passphrase
from workflow_service.packages.spec import Encrypted, KeyDerivation

WORDS = "correct horse battery staple"
VALUE = "sk-live-9f8e7d6c5b4a ✓"


@pytest.fixture(scope="module")
def made() -> tuple[KeyDerivation, bytes]:
    return passphrase.new_key(WORDS)


def test_a_value_round_trips_with_the_same_passphrase(made: tuple[KeyDerivation, bytes]) -> None:
    derivation, key = made
    encrypted = passphrase.encrypt(key, "API_TOKEN", VALUE)
    assert passphrase.decrypt(passphrase.derive(WORDS, derivation), "API_TOKEN", encrypted) == VALUE
    assert (len(base64.b64decode(derivation.salt)), len(base64.b64decode(encrypted.nonce))) == (16, 12)
    assert VALUE.encode() not in base64.b64decode(encrypted.ciphertext)
    again = passphrase.encrypt(key, "API_TOKEN", VALUE)
    assert again.nonce != encrypted.nonce  # a fresh nonce per value
    assert passphrase.new_key(WORDS)[0].salt != derivation.salt  # a fresh salt per package


def test_another_passphrase_does_not_decrypt(made: tuple[KeyDerivation, bytes]) -> None:
    derivation, key = made
    encrypted = passphrase.encrypt(key, "API_TOKEN", VALUE)
    with pytest.raises(passphrase.WrongPassphrase):
        passphrase.decrypt(passphrase.derive(WORDS + "!", derivation), "API_TOKEN", encrypted)


def _flipped(b64: str, at: int) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[at] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("at", [0, 5, -1])  # in the ciphertext, and in the tag at its end
def test_a_tampered_ciphertext_or_nonce_does_not_decrypt(made: tuple[KeyDerivation, bytes], at: int) -> None:
    _, key = made
    encrypted = passphrase.encrypt(key, "API_TOKEN", VALUE)
    for tampered in (
        Encrypted(nonce=encrypted.nonce, ciphertext=_flipped(encrypted.ciphertext, at)),
        Encrypted(nonce=_flipped(encrypted.nonce, at), ciphertext=encrypted.ciphertext),
        Encrypted(nonce=encrypted.nonce, ciphertext=encrypted.ciphertext[:-8]),
        Encrypted(nonce="not base64!", ciphertext=encrypted.ciphertext),
    ):
        with pytest.raises(passphrase.WrongPassphrase):
            passphrase.decrypt(key, "API_TOKEN", tampered)


def test_a_value_moved_to_another_name_does_not_decrypt(made: tuple[KeyDerivation, bytes]) -> None:
    _, key = made
    encrypted = passphrase.encrypt(key, "API_TOKEN", VALUE)
    with pytest.raises(passphrase.WrongPassphrase) as raised:
        passphrase.decrypt(key, "DB_PASSWORD", encrypted)
    assert str(raised.value) == "DB_PASSWORD"


@pytest.mark.parametrize(
    ("n", "r", "p"),
    [(2**21, 8, 1), (2**15 + 1, 8, 1), (3, 8, 1), (2**14, 9, 8), (2**14, 65, 1)],
)
def test_scrypt_parameters_out_of_bounds_are_refused_before_deriving(n: int, r: int, p: int) -> None:
    derivation = KeyDerivation(salt=base64.b64encode(b"s" * 16).decode(), n=n, r=r, p=p)
    with pytest.raises(ValueError, match="out of bounds"):
        passphrase.derive(WORDS, derivation)


def test_the_bounds_admit_what_this_release_writes() -> None:
    derivation = KeyDerivation(salt=base64.b64encode(b"s" * 16).decode(), n=2**4, r=8, p=8)
    assert len(passphrase.derive(WORDS, derivation)) == 32


def test_standard_libraries_decrypt_it_as_documented(made: tuple[KeyDerivation, bytes]) -> None:
    """docs/packages.md: scrypt(passphrase UTF-8, salt, N, r, p, 32 bytes), then AES-256-GCM(key) over the UTF-8
    value with the 12-byte nonce and the variable's name (UTF-8) as associated data, the tag appended."""
    derivation, key = made
    encrypted = passphrase.encrypt(key, "API_TOKEN", VALUE)
    derived = hashlib.scrypt(
        WORDS.encode(),
        salt=base64.b64decode(derivation.salt),
        n=derivation.n,
        r=derivation.r,
        p=derivation.p,
        maxmem=64 * 1024 * 1024,
        dklen=32,
    )
    assert derived == key
    nonce, sealed = base64.b64decode(encrypted.nonce), base64.b64decode(encrypted.ciphertext)
    assert len(sealed) == len(VALUE.encode()) + 16  # the 16-byte tag appended
    assert AESGCM(derived).decrypt(nonce, sealed, b"API_TOKEN").decode() == VALUE
