"""The Intune MDM device CA and the client certificates it issues at enrollment.

Simplification: the real chain is a Microsoft Intune root plus the intermediate "Microsoft Intune
MDM Device CA" (join-protocol.md §6); the emulator has one self-signed CA with that name, signed
once per world with `world.intune_ca_key` and cached. Each enrollment then costs exactly one RSA
signature (the client certificate). No key is ever generated here.
"""
from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_COMMON_NAME = "Microsoft Intune MDM Device CA"
#: Inferred: one year, the usual lifetime of the MDM device certificate before ROBO renewal.
CLIENT_CERT_DAYS = 365


class CsrError(ValueError):
    """The PKCS#10 request cannot be used."""


def ca_name() -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])


def ca_certificate(world) -> x509.Certificate:
    """The world's Intune CA certificate (self-signed, built once). Built lazily (first enrollment,
    or the server's first TLS handshake): its serial comes from the seed, not from `world.ids`, so
    when it is built does not shift the world's later GUIDs."""
    from ...world.world import derived_int

    def build() -> x509.Certificate:
        now = world.clock.now()
        key = world.intune_ca_key
        return (x509.CertificateBuilder().subject_name(ca_name()).issuer_name(ca_name())
                .public_key(key.public_key()).serial_number(derived_int(world.seed, "intune-ca-cert", 127))
                .not_valid_before(now - dt.timedelta(days=365)).not_valid_after(now + dt.timedelta(days=365 * 10))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                             crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))

    return world.cached("intune_ca_certificate", build)


def load_csr(der_or_b64: bytes) -> x509.CertificateSigningRequest:
    """A PKCS#10 request from DER (the base64 layer already removed); signature checked."""
    try:
        csr = x509.load_der_x509_csr(der_or_b64)
    except Exception as exc:  # cryptography raises ValueError for garbage
        raise CsrError(f"The PKCS#10 request cannot be decoded: {exc}") from None
    try:
        valid = csr.is_signature_valid
    except Exception:
        valid = False
    if not valid:
        raise CsrError("The PKCS#10 request signature is not valid.")
    return csr


def issue_client_certificate(world, csr: x509.CertificateSigningRequest, subject_cn: str) -> x509.Certificate:
    """The MDM client certificate over the CSR's key. Subject CN = the Intune device id
    (Inferred: that is where admins read the Intune device id on a real device)."""
    now = world.clock.now()
    ca = ca_certificate(world)
    key = world.intune_ca_key
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
            .issuer_name(ca.subject).public_key(csr.public_key())
            .serial_number(int(world.ids.hex(16), 16) >> 1)
            .not_valid_before(now - dt.timedelta(minutes=10)).not_valid_after(now + dt.timedelta(days=CLIENT_CERT_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def thumbprint(cert_or_der: x509.Certificate | bytes) -> str:
    """SHA-1 thumbprint, upper-case hex (the Windows certificate store's form)."""
    data = cert_or_der if isinstance(cert_or_der, bytes) else der(cert_or_der)
    return hashlib.sha1(data).hexdigest().upper()
