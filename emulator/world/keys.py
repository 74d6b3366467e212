"""The pre-generated RSA key pool (emulator/data/keypool.pem).

RSA-2048 generation costs ~30-50 ms a key, so nothing on the join path generates keys: issuer,
CA, device and transport keys are drawn from this pool. Keys are parsed lazily and cached. The
first `WORLD_KEY_COUNT` keys are the worlds' own (issuer, CAs); devices use the others.
"""
from __future__ import annotations

import threading
from functools import lru_cache
from importlib import resources

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _pem_blocks() -> tuple[bytes, ...]:
    text = resources.files("emulator").joinpath("data/keypool.pem").read_text()
    blocks = []
    marker = "-----BEGIN PRIVATE KEY-----"
    for part in text.split(marker)[1:]:
        blocks.append((marker + part.split("-----END PRIVATE KEY-----")[0] + "-----END PRIVATE KEY-----\n").encode())
    return tuple(blocks)


_cache: dict[int, RSAPrivateKey] = {}


def pool_size() -> int:
    return len(_pem_blocks())


def pool_key(index: int) -> RSAPrivateKey:
    """Key number `index` (modulo the pool size)."""
    i = index % pool_size()
    key = _cache.get(i)
    if key is None:
        with _LOCK:
            key = _cache.get(i)
            if key is None:
                key = serialization.load_pem_private_key(_pem_blocks()[i], password=None,
                                                         unsafe_skip_rsa_key_validation=True)
                _cache[i] = key  # type: ignore[assignment]
    return key  # type: ignore[return-value]


#: Pool keys 0..WORLD_KEY_COUNT-1 are reserved for a world's own roles (token issuer, DRS CA,
#: Intune CA, handed out by `KeyPool`); devices draw only from the rest (`device_pool_key`), so a
#: device key is never one of the world's signing keys, whatever the seed.
WORLD_KEY_COUNT = 8


def device_pool_size() -> int:
    """How many pool keys devices may use."""
    return max(pool_size() - WORLD_KEY_COUNT, 1)


def device_pool_key(index: int) -> RSAPrivateKey:
    """Device key number `index` (modulo `device_pool_size()`): a pool key outside the world's
    reserved part."""
    return pool_key(WORLD_KEY_COUNT + index % device_pool_size())


class KeyPool:
    """Hands out the world's reserved pool keys (0..WORLD_KEY_COUNT-1) in a deterministic order
    starting from `start` (taken modulo the reserved count: after WORLD_KEY_COUNT takes it wraps)."""

    def __init__(self, start: int = 0):
        self._next = start
        self._lock = threading.Lock()

    def take(self) -> RSAPrivateKey:
        with self._lock:
            i = self._next
            self._next += 1
        return pool_key(i % WORLD_KEY_COUNT)
