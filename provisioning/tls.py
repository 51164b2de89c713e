"""A small certificate authority for the broker's TLS listener, made with ``cryptography``.

``provision broker`` keeps the CA key on the IT laptop (``ca.key``, 0600) and
hands out only certificates: ``ca.crt`` goes into every device bundle and the
hub's config (``mqtt.ca_file``), so kiosks and hub trust this broker and no
other; ``server.crt``/``server.key`` go to the broker host. The CA and the
server key are made once and reused, so a rerun does not invalidate the
fleet's trust; the server certificate is reissued only when the host names
asked for change or it nears expiry. Client certificates (``issue_client``)
are optional: a listener with ``require_certificate`` refuses any TCP peer
without one before MQTT starts.

Keys are ECDSA P-256: small, fast to verify on a Pi, accepted by
Mosquitto's OpenSSL and Python's ``ssl`` alike.
"""

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning.bundle import write_private_text
from provisioning.errors import BrokerConfigError

CA_KEY = "ca.key"
CA_CERT = "ca.crt"
SERVER_KEY = "server.key"
SERVER_CERT = "server.crt"

CA_DAYS = 20 * 365
LEAF_DAYS = 825  # the longest leaf lifetime common TLS clients accept
RENEW_BEFORE = timedelta(days=60)

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Authority:
    key: PrivateKey
    cert: x509.Certificate


def ensure_ca(folder: Path, name: str = "face-attendance broker CA") -> Authority:
    """The CA in ``folder``, made on first use."""
    key_path, cert_path = folder / CA_KEY, folder / CA_CERT
    if key_path.exists() and cert_path.exists():
        return Authority(_load_key(key_path), _load_cert(cert_path))
    if key_path.exists() or cert_path.exists():
        raise BrokerConfigError(
            f"{folder} holds only one of {CA_KEY} and {CA_CERT}: restore the other from a backup "
            "(a new CA would not be trusted by the kiosks already provisioned)"
        )
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        _builder(subject, subject, key.public_key(), CA_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    write_private_text(cert_path, _pem(cert), mode=0o644)
    return Authority(key, cert)


def ensure_server_cert(folder: Path, ca: Authority, hosts: list[str]) -> bool:
    """Make sure ``server.crt`` names exactly ``hosts`` and is signed by ``ca``; True when (re)issued.

    The server key is kept across reissues, so only the certificate changes on the broker host.
    """
    if not hosts:
        raise BrokerConfigError("the broker's TLS certificate needs at least one host name or IP (--broker-host)")
    names = [host_name(h) for h in hosts]
    cert_path, key_path = folder / SERVER_CERT, folder / SERVER_KEY
    if cert_path.exists() and key_path.exists() and _is_current(_load_cert(cert_path), ca, names):
        return False
    key = _load_key(key_path) if key_path.exists() else ec.generate_private_key(ec.SECP256R1())
    cert = _leaf(ca, hosts[0], key, ExtendedKeyUsageOID.SERVER_AUTH, names)
    _write_key(key_path, key)
    write_private_text(cert_path, _pem(cert), mode=0o644)
    return True


def issue_client(ca: Authority, common_name: str) -> tuple[str, str]:
    """A new client key and certificate (PEM texts) with ``common_name`` as the subject's CN."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _leaf(ca, common_name, key, ExtendedKeyUsageOID.CLIENT_AUTH, [])
    return _key_pem(key), _pem(cert)


def host_name(host: str) -> x509.GeneralName:
    """A subjectAltName entry: an IP address when ``host`` parses as one, else a DNS name."""
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host or any(c.isspace() or c in "/:@" for c in host):
        raise BrokerConfigError(f"invalid broker host name {host!r}")
    return x509.DNSName(host)


def _leaf(
    ca: Authority, common_name: str, key: PrivateKey, usage: x509.ObjectIdentifier, names: list[x509.GeneralName]
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        _builder(subject, ca.cert.subject, key.public_key(), LEAF_DAYS)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def _builder(subject: x509.Name, issuer: x509.Name, public_key, days: int) -> x509.CertificateBuilder:
    now = datetime.now(timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))  # a device clock a little behind still accepts it
        .not_valid_after(now + timedelta(days=days))
    )


def _is_current(cert: x509.Certificate, ca: Authority, names: list[x509.GeneralName]) -> bool:
    """Signed by ``ca``, naming exactly ``names``, and not about to expire."""
    try:
        cert.verify_directly_issued_by(ca.cert)
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    fresh = cert.not_valid_after_utc - datetime.now(timezone.utc) > RENEW_BEFORE
    return fresh and set(alt) == set(names)


def _load_key(path: Path) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise BrokerConfigError(f"cannot read the private key {path}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise BrokerConfigError(f"{path} is not an EC private key")
    return key


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise BrokerConfigError(f"cannot read the certificate {path}: {exc}") from exc


def _write_key(path: Path, key: PrivateKey) -> None:
    write_private_text(path, _key_pem(key))


def _key_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
