"""The device certificates DRS issues, and the key material a device sends with a join.

The certificate mirrors a real one (join-protocol.md §3.3): subject `CN=<deviceId>`, issuer the
multi-valued RDN `DC=net + DC=windows + CN=MS-Organization-Access + OU=82dbaca4-...`, SHA256/RSA
by the world's DRS CA key, ten years, and the Microsoft extensions under 1.2.840.113556.1.5.284.
Exactly one RSA private-key operation per certificate; no key is ever generated here.
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import struct
import uuid

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

DRS_CA_OU = "82dbaca4-3e81-46ca-9c73-0950c1eaca97"
OID_DEVICE_ID = ObjectIdentifier("1.2.840.113556.1.5.284.2")
OID_USER_ID = ObjectIdentifier("1.2.840.113556.1.5.284.3")
OID_TENANT_ID = ObjectIdentifier("1.2.840.113556.1.5.284.5")
OID_JOIN_TYPE = ObjectIdentifier("1.2.840.113556.1.5.284.7")
OID_REGION = ObjectIdentifier("1.2.840.113556.1.5.284.8")
#: Optional CSR extension carrying the DRS nonce (HB-SPEC).
OID_CSR_NONCE = ObjectIdentifier("1.2.840.113556.1.5.284.2.1")


#: Transport key sizes accepted (devices send RSA 2048; OpenSSL encrypts with at most 16384 bits).
MIN_TRANSPORT_KEY_BITS = 1024
MAX_TRANSPORT_KEY_BITS = 16384


class KeyMaterialError(ValueError):
    """A CSR, transport key or certificate that cannot be used."""


@functools.lru_cache(maxsize=1)
def drs_ca_name() -> x509.Name:
    """The DRS CA's name (an immutable x509.Name, built once)."""
    return x509.Name([x509.RelativeDistinguishedName([
        x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "net"),
        x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "windows"),
        x509.NameAttribute(NameOID.COMMON_NAME, "MS-Organization-Access"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, DRS_CA_OU),
    ])])


def guid_bytes_le(guid: str) -> bytes:
    """.NET Guid.ToByteArray() order."""
    return uuid.UUID(guid).bytes_le


def guid_from_bytes_le(data: bytes) -> str:
    return str(uuid.UUID(bytes_le=bytes(data)))


def entra_sid(object_id: str) -> str:
    """The Windows SID of an Entra object: S-1-12-1- and the GUID's bytes as four little-endian uint32."""
    parts = struct.unpack("<4I", guid_bytes_le(object_id))
    return "S-1-12-1-" + "-".join(str(p) for p in parts)


def thumbprint(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest().upper()


# -- what the device sends --------------------------------------------------------------------

def parse_csr(data_b64: str) -> x509.CertificateSigningRequest:
    """A base64 DER PKCS#10 request with a valid signature (PEM accepted too)."""
    if not isinstance(data_b64, str) or not data_b64.strip():
        raise KeyMaterialError("The certificate request is empty.")
    text = data_b64.strip()
    try:
        if text.startswith("-----BEGIN"):
            csr = x509.load_pem_x509_csr(text.encode())
        else:
            der = base64.b64decode(text + "=" * (-len(text) % 4), validate=False)
            csr = x509.load_der_x509_csr(der)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a format error
        raise KeyMaterialError(f"The certificate request could not be parsed: {exc}") from None
    try:
        ok = csr.is_signature_valid
    except Exception:  # noqa: BLE001
        ok = False
    if not ok:
        raise KeyMaterialError("The certificate request signature is not valid.")
    if not isinstance(csr.public_key(), rsa.RSAPublicKey):
        raise KeyMaterialError("The certificate request key must be RSA.")
    return csr


def parse_transport_key(value: str) -> tuple[bytes, rsa.RSAPublicKey]:
    """The device's transport key: base64 of a BCRYPT_RSAKEY_BLOB ("RSA1"), or base64 of a JWK JSON
    (macOS / Android style, standard base64 for n and e). Returns (raw bytes, public key)."""
    if not isinstance(value, str) or not value.strip():
        raise KeyMaterialError("The transport key is empty.")
    try:
        raw = base64.b64decode(value.strip() + "=" * (-len(value.strip()) % 4))
    except Exception:  # noqa: BLE001
        raise KeyMaterialError("The transport key is not base64.") from None
    return raw, public_key_from_transport_blob(raw)


def public_key_from_transport_blob(raw: bytes) -> rsa.RSAPublicKey:
    if raw[:4] == b"RSA1":
        if len(raw) < 24:
            raise KeyMaterialError("The transport key blob is truncated.")
        bitlen, cb_exp, cb_mod, cb_p1, cb_p2 = struct.unpack("<5I", raw[4:24])
        if cb_p1 or cb_p2:
            raise KeyMaterialError("The transport key blob must not carry private primes.")
        if len(raw) < 24 + cb_exp + cb_mod or cb_mod == 0 or cb_exp == 0:
            raise KeyMaterialError("The transport key blob is truncated.")
        e = int.from_bytes(raw[24:24 + cb_exp], "big")
        n = int.from_bytes(raw[24 + cb_exp:24 + cb_exp + cb_mod], "big")
    else:
        try:
            jwk = json.loads(raw.decode("utf-8"))
            if jwk.get("kty") != "RSA":
                raise KeyMaterialError("The transport key must be an RSA key.")

            def b64int(s: str) -> int:
                s = s.strip()
                pad = "=" * (-len(s) % 4)
                try:
                    return int.from_bytes(base64.b64decode(s + pad, validate=True), "big")
                except Exception:  # noqa: BLE001 - accept base64url as well
                    return int.from_bytes(base64.urlsafe_b64decode(s + pad), "big")

            e, n = b64int(jwk["e"]), b64int(jwk["n"])
        except KeyMaterialError:
            raise
        except Exception:  # noqa: BLE001
            raise KeyMaterialError("The transport key is neither a BCRYPT_RSAKEY_BLOB nor an RSA JWK.") from None
    try:
        key = rsa.RSAPublicNumbers(e, n).public_key()
    except Exception:  # noqa: BLE001
        raise KeyMaterialError("The transport key numbers are not a valid RSA key.") from None
    if not MIN_TRANSPORT_KEY_BITS <= key.key_size <= MAX_TRANSPORT_KEY_BITS:
        raise KeyMaterialError(f"The transport key must be an RSA key of {MIN_TRANSPORT_KEY_BITS} to "
                               f"{MAX_TRANSPORT_KEY_BITS} bits, not {key.key_size}.")
    try:   # The session key is wrapped to it later (RSA-OAEP, SHA-1): make sure that can be done.
        key.encrypt(b"\0" * 32, padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
    except Exception:  # noqa: BLE001 - e.g. an exponent OpenSSL refuses
        raise KeyMaterialError("The transport key cannot be used for RSA-OAEP encryption.") from None
    return key


# -- issuing ------------------------------------------------------------------------------------

def _add_years(when: dt.datetime, years: int) -> dt.datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February
        return when.replace(year=when.year + years, day=28)


def issue_device_certificate(world, tenant, public_key, device_id: str, user_id: str, *,
                             joined: bool) -> x509.Certificate:
    """Sign the device certificate over the CSR's public key with the world's DRS CA key."""
    now = world.clock.now().replace(microsecond=0)
    # Inferred: real device certificates run ten years plus a few tens of minutes; we pick a
    # deterministic 30-90 minutes from the device id so a seeded world gives the same certificate.
    extra_minutes = 30 + int(uuid.UUID(device_id).hex[:8], 16) % 61
    not_after = _add_years(now, 10) + dt.timedelta(minutes=extra_minutes)
    serial = int.from_bytes(uuid.UUID(device_id).bytes, "big") >> 1 or 1
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device_id)]))
        .issuer_name(drs_ca_name())
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(now)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=True)
        .add_extension(x509.UnrecognizedExtension(OID_DEVICE_ID, guid_bytes_le(device_id)), critical=False)
        .add_extension(x509.UnrecognizedExtension(OID_USER_ID, guid_bytes_le(user_id)), critical=False)
        .add_extension(x509.UnrecognizedExtension(OID_TENANT_ID, guid_bytes_le(tenant.id)), critical=False)
        .add_extension(x509.UnrecognizedExtension(OID_REGION, (tenant.region or "NA").encode("ascii")),
                       critical=False)
        .add_extension(x509.UnrecognizedExtension(OID_JOIN_TYPE, b"1" if joined else b"0"), critical=False)
    )
    return builder.sign(world.drs_ca_key, hashes.SHA256())


# -- checking what a device presents ------------------------------------------------------------

def load_certificate(data: bytes | str) -> x509.Certificate:
    """PEM or DER bytes, or a base64 DER string (the x5c header form)."""
    try:
        if isinstance(data, str):
            s = data.strip()
            if s.startswith("-----BEGIN"):
                return x509.load_pem_x509_certificate(s.encode())
            return x509.load_der_x509_certificate(base64.b64decode(s + "=" * (-len(s) % 4)))
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except Exception as exc:  # noqa: BLE001
        raise KeyMaterialError(f"The certificate could not be parsed: {exc}") from None


def verify_issued_by_drs(world, cert: x509.Certificate) -> str:
    """Check the certificate was signed by this world's DRS CA; return its device id (subject CN)."""
    if cert.issuer != drs_ca_name():
        raise KeyMaterialError("The certificate was not issued by MS-Organization-Access.")
    try:
        world.drs_ca_key.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                                             cert.signature_hash_algorithm)
    except (InvalidSignature, Exception):  # noqa: BLE001
        raise KeyMaterialError("The certificate signature does not verify against the DRS CA.") from None
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cns:
        raise KeyMaterialError("The certificate has no subject CN.")
    return str(cns[-1].value).lower()


def tenant_id_of(cert: x509.Certificate) -> str | None:
    try:
        ext = cert.extensions.get_extension_for_oid(OID_TENANT_ID)
    except x509.ExtensionNotFound:
        return None
    return guid_from_bytes_le(ext.value.value)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)
