"""The device's TPM-side crypto: CSR, BCRYPT_RSAKEY_BLOB, signed PRT requests, session-key KDF and
JWE replies (join-protocol.md §3.3 / §4, real-clients.md §3.3-3.4). Keys come from the pool; none
is generated here."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode
from cryptography.x509.oid import NameOID

from ..wire.b64 import b64url_decode, b64url_encode

#: Fixed CSR subject every join client uses [HB-SPEC][ROAD][AADINT].
CSR_SUBJECT_CN = "7E980AD9-B86D-4306-9425-9AC066FB014A"
KDF_LABEL = b"AzureAD-SecureConversation"


def b64_any_decode(text: str) -> bytes:
    """Standard or url-safe base64, padded or not."""
    text = text.strip().replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4))


#: Built CSRs by (id(key), subject CN) -> (key, DER). A PKCS#10 request over the same key and
#: subject is byte-identical every time (PKCS#1 v1.5 signatures are deterministic), and the TPM keys
#: come from the shared pool, so a request once built is reused (bounded; the key is held so its id
#: stays its own).
_CSR_CACHE: dict[tuple[int, str], tuple[RSAPrivateKey, bytes]] = {}
_CSR_CACHE_MAX = 512


def build_csr(key: RSAPrivateKey, subject_cn: str = CSR_SUBJECT_CN) -> bytes:
    """PKCS#10, CN=7E980AD9-... (or `subject_cn`), SHA256withRSA; one RSA signature, built once per
    key and subject."""
    ck = (id(key), subject_cn)
    hit = _CSR_CACHE.get(ck)
    if hit is not None and hit[0] is key:
        return hit[1]
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
           .sign(key, hashes.SHA256()))
    der = csr.public_bytes(serialization.Encoding.DER)
    if len(_CSR_CACHE) >= _CSR_CACHE_MAX:
        _CSR_CACHE.clear()
    _CSR_CACHE[ck] = (key, der)
    return der


def bcrypt_rsakey_blob(pub: RSAPublicKey) -> bytes:
    """BCRYPT_RSAKEY_BLOB: 'RSA1', bit length, cbPublicExp, cbModulus, 0, 0 (LE u32), e, n (BE)."""
    nums = pub.public_numbers()
    e = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
    n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
    le = lambda v: int(v).to_bytes(4, "little")  # noqa: E731
    return b"RSA1" + le(pub.key_size) + le(len(e)) + le(len(n)) + le(0) + le(0) + e + n


def jwt_rs256(header: dict[str, Any], payload: dict[str, Any], key: RSAPrivateKey) -> str:
    h = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    p = b64url_encode(json.dumps(payload, separators=(",", ":")).encode())
    sig = key.sign(f"{h}.{p}".encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{h}.{p}.{b64url_encode(sig)}"


def derive_key(session_key: bytes, context: bytes) -> bytes:
    """SP 800-108 counter-mode HMAC-SHA256 (KDF v1): label AzureAD-SecureConversation."""
    kdf = KBKDFHMAC(algorithm=hashes.SHA256(), mode=Mode.CounterMode, length=32, rlen=4, llen=4,
                    location=CounterLocation.BeforeFixed, label=KDF_LABEL, context=context, fixed=None)
    return kdf.derive(session_key)


def jwt_hs256_kdf2(payload: dict[str, Any], session_key: bytes, ctx: bytes) -> str:
    """A PRT-use request: HS256 with the KDF v2 key (context = SHA256(ctx || payload bytes))."""
    header = {"alg": "HS256", "ctx": base64.b64encode(ctx).decode("ascii"), "kdf_ver": 2, "typ": "JWT"}
    body = json.dumps(payload, separators=(",", ":")).encode()
    key = derive_key(session_key, hashlib.sha256(ctx + body).digest())
    h = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    p = b64url_encode(body)
    sig = hmac.new(key, f"{h}.{p}".encode("ascii"), hashlib.sha256).digest()
    return f"{h}.{p}.{b64url_encode(sig)}"


def unwrap_session_key(session_key_jwe: str, transport_key: RSAPrivateKey) -> bytes:
    """The second JWE segment is the session key, RSA-OAEP(SHA-1) to the transport key."""
    wrapped = b64url_decode(session_key_jwe.split(".")[1])
    return transport_key.decrypt(wrapped, padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))


def decrypt_reply(text: str, session_key: bytes) -> dict[str, Any]:
    """A PRT-use reply: plain JSON if it starts with {" (as roadlib accepts), else a compact JWE
    with `ctx` in its header, key = KDF v1(ctx), AES-GCM (12-byte IV, AAD = header) or AES-CBC."""
    text = text.strip()
    if text.startswith('{"'):
        return json.loads(text)
    header_b64, _enc_key, iv_b64, ct_b64, tag_b64 = text.split(".")
    header = json.loads(b64url_decode(header_b64))
    key = derive_key(session_key, b64_any_decode(header["ctx"]))
    iv, ct, tag = b64url_decode(iv_b64), b64url_decode(ct_b64), b64url_decode(tag_b64)
    if len(iv) == 12:
        plain = AESGCM(key).decrypt(iv, ct + tag, header_b64.encode("ascii"))
    else:
        dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        padded = dec.update(ct) + dec.finalize()
        plain = padded[: -padded[-1]]
    return json.loads(plain)


def jwt_claims(token: str | None) -> dict[str, Any]:
    """Claims of a JWT without verifying it (the device trusts its TLS channel)."""
    if not token or token.count(".") < 1:
        return {}
    try:
        return json.loads(b64url_decode(token.split(".")[1]))
    except (ValueError, UnicodeDecodeError):
        return {}


def cert_facts(der: bytes) -> dict[str, Any]:
    cert = x509.load_der_x509_certificate(der)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return {
        "device_id": (cns[-1].value if cns else "").lower(),
        "thumbprint": hashlib.sha1(der).hexdigest().upper(),
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
        "pem": cert.public_bytes(serialization.Encoding.PEM),
    }


def key_pem(key: RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
