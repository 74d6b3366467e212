"""Regenerate emulator/data/keypool.pem (64 throw-away RSA-2048 keys)."""
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

HEADER = (
    "# Pre-generated RSA-2048 test keys. They protect nothing: the emulator draws device,\n"
    "# transport, issuer and CA keys from this pool so that no RSA key generation sits on\n"
    "# the join path. Regenerate with benchmarks/make_keypool.py.\n"
)


def main(count: int = 64) -> None:
    pems = []
    for _ in range(count):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pems.append(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode())
    target = Path(__file__).resolve().parent.parent / "emulator" / "data" / "keypool.pem"
    target.write_text(HEADER + "".join(pems))
    print(f"wrote {count} keys to {target}")


if __name__ == "__main__":
    main()
