"""TLS material of the local server: a CA kept on disk, the server certificate for the emulated
Microsoft hosts, the CA bundle clients point at, and the server-side SSL contexts.

The CA is generated once per state directory (default `~/.entra-emu`) and reused, so a client
that trusts it once keeps trusting it. Keys here are EC P-256: generated in about a millisecond,
and never drawn from the RSA key pool, whose private keys ship with the source (a CA a user puts
in a bundle must not be signable by anyone holding the repository).
"""
from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Hosts the server certificate always covers (the brief's list; router hosts are added).
DEFAULT_SANS: tuple[str, ...] = (
    "login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net",
    "enterpriseregistration.windows.net", "graph.microsoft.com", "enrollment.manage.microsoft.com",
    "portal.manage.microsoft.com", "localhost", "127.0.0.1",
)

CA_COMMON_NAME = "entra-emu local test CA"
#: Files in the state directory.
CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
SERVER_CERT_FILE = "server.pem"
SERVER_KEY_FILE = "server-key.pem"
BUNDLE_FILE = "ca-bundle.pem"

_UTC = _dt.timezone.utc


def default_state_dir() -> Path:
    return Path(os.environ.get("ENTRA_EMU_STATE_DIR") or Path.home() / ".entra-emu")


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _real_now() -> _dt.datetime:
    # TLS validity is checked by clients against their own clock, which is real time; the emulated
    # cloud clock (control API) deliberately does not move the server certificate.
    return _dt.datetime.now(_UTC).replace(microsecond=0)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _san_entries(hosts) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for h in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            out.append(x509.DNSName(h))
    return out


@dataclass
class TlsFiles:
    state_dir: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    bundle: Path
    sans: tuple[str, ...]


def _load_ca(state: Path):
    cert_p, key_p = state / CA_CERT_FILE, state / CA_KEY_FILE
    if not (cert_p.exists() and key_p.exists()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_p.read_bytes())
        key = serialization.load_pem_private_key(key_p.read_bytes(), password=None)
    except (ValueError, TypeError):
        return None
    if cert.not_valid_after_utc <= _real_now() + _dt.timedelta(days=30):
        return None
    return cert, key


def _make_ca(state: Path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "entra-emu")])
    now = _real_now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(days=1)).not_valid_after(now + _dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    _atomic_write(state / CA_KEY_FILE, _key_pem(key), 0o600)
    _atomic_write(state / CA_CERT_FILE, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _server_cert_ok(state: Path, ca_cert: x509.Certificate, sans: tuple[str, ...]) -> bool:
    cert_p, key_p = state / SERVER_CERT_FILE, state / SERVER_KEY_FILE
    if not (cert_p.exists() and key_p.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_p.read_bytes())
        present = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    have = {str(v) for v in present.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in present.get_values_for_type(x509.IPAddress)}
    if not set(sans) <= have or cert.issuer != ca_cert.subject:
        return False
    try:
        ca_cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    except Exception:  # noqa: BLE001 - signed by another CA: remake
        return False
    return cert.not_valid_after_utc > _real_now() + _dt.timedelta(days=7)


def _make_server_cert(state: Path, ca_cert, ca_key, sans: tuple[str, ...]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _real_now()
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sans[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(days=1)).not_valid_after(now + _dt.timedelta(days=397))
            .add_extension(x509.SubjectAlternativeName(_san_entries(sans)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _atomic_write(state / SERVER_KEY_FILE, _key_pem(key), 0o600)
    _atomic_write(state / SERVER_CERT_FILE, cert.public_bytes(serialization.Encoding.PEM))


def _system_bundle() -> bytes:
    """The public CAs, so a bundle that replaces the system one still reaches real hosts."""
    candidates = []
    try:
        import certifi

        candidates.append(certifi.where())
    except ImportError:
        pass
    paths = ssl.get_default_verify_paths()
    candidates += [paths.cafile or "", "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]
    for c in candidates:
        if c and os.path.isfile(c):
            try:
                return Path(c).read_bytes()
            except OSError:
                continue
    return b""


def ensure_tls_files(state_dir: str | os.PathLike | None = None, extra_hosts=()) -> TlsFiles:
    """Create (once) or reuse the CA, the server certificate and the client bundle."""
    state = Path(state_dir) if state_dir else default_state_dir()
    state.mkdir(parents=True, exist_ok=True)
    sans = tuple(dict.fromkeys([*DEFAULT_SANS, *(h.lower() for h in extra_hosts if h)]))
    loaded = _load_ca(state)
    ca_cert, ca_key = loaded if loaded else _make_ca(state)
    if not _server_cert_ok(state, ca_cert, sans):
        _make_server_cert(state, ca_cert, ca_key, sans)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    bundle = ca_pem + b"\n" + _system_bundle()
    bundle_p = state / BUNDLE_FILE
    if not bundle_p.exists() or bundle_p.read_bytes() != bundle:
        _atomic_write(bundle_p, bundle)
    return TlsFiles(state, state / CA_CERT_FILE, state / CA_KEY_FILE, state / SERVER_CERT_FILE,
                    state / SERVER_KEY_FILE, bundle_p, sans)


# -- client-certificate trust: the world's DRS CA ------------------------------------------------

def drs_ca_certificate(world) -> x509.Certificate:
    """A self-signed CA certificate over `world.drs_ca_key` named as the DRS issuer, so OpenSSL
    accepts device certificates DRS issued as TLS client certificates.

    Inferred: the real MS-Organization-Access CA is not published; only its name and key matter
    for chain building (device certificates carry no authority key identifier)."""
    from ..services.registration.certificates import drs_ca_name  # the one definition of the name

    def build() -> x509.Certificate:
        key = world.drs_ca_key
        name = drs_ca_name()
        return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(1)
                .not_valid_before(_dt.datetime(2014, 1, 1, tzinfo=_UTC))
                .not_valid_after(_dt.datetime(2099, 12, 31, tzinfo=_UTC))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
    return world.cached("transport.drs_ca_certificate", build)


def client_trust_pems(world) -> list[bytes]:
    """PEMs of every CA whose certificates the server accepts as TLS client certificates."""
    pems = [drs_ca_certificate(world).public_bytes(serialization.Encoding.PEM)]
    # Other services may publish their device CA (e.g. Intune's MDM CA) with this hook.
    try:
        from ..services.intune import certificates as intune_certs  # type: ignore[attr-defined]

        hook = getattr(intune_certs, "ca_certificate", None)
        if hook is not None:
            pems.append(hook(world).public_bytes(serialization.Encoding.PEM))
    except Exception:  # noqa: BLE001 - optional hook
        pass
    return pems


def server_context(files: TlsFiles, world) -> ssl.SSLContext:
    """Server-side context: our host certificate; a client certificate is asked for but optional."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(files.server_cert), str(files.server_key))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(cadata="".join(p.decode() for p in client_trust_pems(world)))
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
