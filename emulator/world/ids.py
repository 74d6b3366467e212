"""Deterministic identifiers and names: the same seed gives the same world."""
from __future__ import annotations

import random
import threading

_V4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_V4_SET = (0x8000 << 48) | (4 << 76)


def uuid4_str(bits: int) -> str:
    """`str(uuid.UUID(int=bits, version=4))` without building a UUID object (same text)."""
    h = "%032x" % ((bits & _V4_CLEAR) | _V4_SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class IdFactory:
    """GUIDs, device names and other random-looking values from one seeded generator."""

    def __init__(self, seed: int | str = 0):
        self.seed = seed
        self._rng = random.Random(f"entra-emu:{seed}")
        self._lock = threading.Lock()
        self._faker = None

    def guid(self) -> str:
        with self._lock:
            bits = self._rng.getrandbits(128)
        return uuid4_str(bits)

    def hex(self, nbytes: int) -> str:
        with self._lock:
            return self._rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    def token_bytes(self, n: int) -> bytes:
        with self._lock:
            return self._rng.getrandbits(n * 8).to_bytes(n, "big")

    def randint(self, a: int, b: int) -> int:
        with self._lock:
            return self._rng.randint(a, b)

    def random(self) -> float:
        with self._lock:
            return self._rng.random()

    def desktop_name(self) -> str:
        """A Windows default computer name: DESKTOP- and seven upper-case letters or digits."""
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        with self._lock:
            return "DESKTOP-" + "".join(self._rng.choice(alphabet) for _ in range(7))

    @property
    def faker(self):
        """A Faker seeded from this factory (imported lazily: Faker is slow to import)."""
        if self._faker is None:
            from faker import Faker

            f = Faker("en_US")
            f.seed_instance(f"entra-emu:{self.seed}")
            self._faker = f
        return self._faker
