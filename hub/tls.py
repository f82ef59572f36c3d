"""The hub's certificate on the LAN, and how clients pin it.

A home that serves HTTPS keeps `tls/` (0700): `hub.key` (the hub's own key, 0600, never
leaves the home), `hub.crt` (its certificate, then the chain up to the CA) and `ca.crt`, the
certificate a browser must trust once. With no chain CA, the home makes a CA of its own
(`ca.key` beside it) and signs the hub's certificate with it; a chain's CA at HQ can sign a
request made from the same key instead (`laoke tls request` / `laoke hq tls sign` /
`laoke tls install`).

The pin is the SHA-256 of the hub key's public half (SPKI), written as OkHttp and Chromium
write it (`sha256/BASE64`): it survives a new certificate for the same key (new addresses, a
chain CA's signature), so a paired device keeps working, and it names this hub alone.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .domain.errors import InvalidInput

TLS_DIR = "tls"
HUB_KEY = "hub.key"
HUB_CERT = "hub.crt"
CA_CERT = "ca.crt"
CA_KEY = "ca.key"
PIN_PREFIX = "sha256/"
HUB_DAYS = 825  # what Apple's devices accept for a certificate under a CA a person installed
CA_DAYS = 20 * 365


class PinMismatch(InvalidInput):
    """The host answering is not the hub the pin names: it gets no credential."""


@dataclass(frozen=True)
class HubCertificate:
    cert_file: Path
    key_file: Path
    ca_file: Path
    pin: str


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InvalidInput(f"{path}: not an EC private key")
    return key


def pin_of_public_key(public: CertificatePublicKeyTypes) -> str:
    der = public.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    return PIN_PREFIX + base64.b64encode(hashlib.sha256(der).digest()).decode()


def pin_of_certificate(der: bytes) -> str:
    return pin_of_public_key(x509.load_der_x509_certificate(der).public_key())


def names_for(store_id: str, addresses: list[str]) -> list[x509.GeneralName]:
    """What a browser may call the hub: its mDNS name, localhost, and its LAN addresses."""
    names: list[x509.GeneralName] = [x509.DNSName(f"laoke-{store_id}.local"),
                                     x509.DNSName("localhost")]
    for address in dict.fromkeys(["127.0.0.1", *addresses]):
        with contextlib.suppress(ValueError):  # a host name in the settings is no IP name
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
    return names


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "laoke"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _hub_certificate(store_id: str, addresses: list[str], key: ec.EllipticCurvePrivateKey,
                     ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
                     days: int = HUB_DAYS) -> x509.Certificate:
    now = datetime.now(UTC)
    return (x509.CertificateBuilder()
            .subject_name(_name(store_id)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days))
            .add_extension(x509.SubjectAlternativeName(names_for(store_id, addresses)),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))


def _store_ca(store_id: str, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = datetime.now(UTC)
    name = _name(f"laoke {store_id} CA")
    return (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))


def _pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def ensure_certificate(home: Path, store_id: str, addresses: list[str]) -> HubCertificate:
    """The home's certificate, made the first time (a CA of the store's own signs it)."""
    folder = home / TLS_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_file, cert_file, ca_file = folder / HUB_KEY, folder / HUB_CERT, folder / CA_CERT
    if not key_file.exists():
        _write_private(key_file, _key_pem(ec.generate_private_key(ec.SECP256R1())))
    key = _load_key(key_file)
    if not cert_file.exists():
        _issue(folder, store_id, addresses, key)
    return HubCertificate(cert_file, key_file, ca_file, pin_of_public_key(key.public_key()))


def _issue(folder: Path, store_id: str, addresses: list[str],
           key: ec.EllipticCurvePrivateKey) -> None:
    """A hub certificate from the store's own CA, made the first time and kept after, so
    the tablets that installed it keep trusting every certificate it signs."""
    ca_key_file, ca_file = folder / CA_KEY, folder / CA_CERT
    if ca_key_file.exists() and ca_file.exists():
        ca_key = _load_key(ca_key_file)
        ca_cert = x509.load_pem_x509_certificate(ca_file.read_bytes())
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _store_ca(store_id, ca_key)
        _write_private(ca_key_file, _key_pem(ca_key))
        ca_file.write_bytes(_pem(ca_cert))
    hub_cert = _hub_certificate(store_id, addresses, key, ca_cert, ca_key)
    tmp = folder / (HUB_CERT + ".tmp")
    tmp.write_bytes(_pem(hub_cert, ca_cert))
    os.replace(tmp, folder / HUB_CERT)


def renew_certificate(home: Path, store_id: str, addresses: list[str]) -> HubCertificate:
    """A new certificate for the hub's addresses now, from the store's own CA, same key (the
    pin stays). A chain CA's certificate is renewed the way it came: request, sign, install."""
    folder = home / TLS_DIR
    current = home_certificate(home)
    if current is None:
        return ensure_certificate(home, store_id, addresses)
    if not (folder / CA_KEY).exists():
        raise InvalidInput("the chain's CA signed this certificate: `laoke tls request` and "
                           "have HQ sign it again")
    _issue(folder, store_id, addresses, _load_key(current.key_file))
    return current


def home_certificate(home: Path) -> HubCertificate | None:
    """The certificate a home already has, or None (a home that serves plain HTTP)."""
    folder = home / TLS_DIR
    if not (folder / HUB_KEY).exists() or not (folder / HUB_CERT).exists():
        return None
    key = _load_key(folder / HUB_KEY)
    return HubCertificate(folder / HUB_CERT, folder / HUB_KEY, folder / CA_CERT,
                          pin_of_public_key(key.public_key()))


def certificate_request(home: Path, store_id: str, addresses: list[str]) -> bytes:
    """A CSR from the hub's own key, for the chain's CA at HQ to sign."""
    key = _load_key(ensure_certificate(home, store_id, addresses).key_file)
    request = (x509.CertificateSigningRequestBuilder().subject_name(_name(store_id))
               .add_extension(x509.SubjectAlternativeName(names_for(store_id, addresses)),
                              critical=False)
               .sign(key, hashes.SHA256()))
    return request.public_bytes(serialization.Encoding.PEM)


def sign_request(request_pem: bytes, ca_cert_pem: bytes, ca_key_pem: bytes,
                 days: int = HUB_DAYS) -> bytes:
    """HQ signs a store's request with the chain's CA: the certificate and the CA, as PEM."""
    try:
        request = x509.load_pem_x509_csr(request_pem)
        ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
        ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    except ValueError as error:
        raise InvalidInput(f"not a PEM request, certificate or key: {error}") from None
    if not request.is_signature_valid:
        raise InvalidInput("the request's signature is not valid")
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise InvalidInput("the CA key is neither EC nor RSA")
    store_id = request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    names = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder()
                   .subject_name(_name(str(store_id))).issuer_name(ca_cert.subject)
                   .public_key(request.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(hours=1))
                   .not_valid_after(now + timedelta(days=days))
                   .add_extension(names, critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                  critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                                  critical=False)
                   .sign(ca_key, hashes.SHA256()))
    return _pem(certificate, ca_cert)


def install_certificate(home: Path, signed_pem: bytes) -> HubCertificate:
    """Take a certificate the chain's CA signed for this hub's key (the CA last in the file).

    It must be for this home's key (else the pin of every paired device would break) and
    must verify under the CA it came with; the store's own CA key goes, the chain CA stays
    as what browsers trust.
    """
    current = home_certificate(home)
    if current is None:
        raise InvalidInput(f"{home} has no hub key yet: run `laoke tls request` first")
    try:
        chain = x509.load_pem_x509_certificates(signed_pem)
    except ValueError as error:
        raise InvalidInput(f"not a PEM certificate: {error}") from None
    if len(chain) < 2:
        raise InvalidInput("the file must hold the hub's certificate and then the chain's CA")
    leaf, ca = chain[0], chain[-1]
    if pin_of_public_key(leaf.public_key()) != current.pin:
        raise InvalidInput("that certificate is not for this hub's key")
    try:
        leaf.verify_directly_issued_by(chain[1])
    except (InvalidSignature, ValueError, TypeError) as error:
        raise InvalidInput(f"the certificate is not signed by the CA after it ({error})") \
            from None
    tmp = current.cert_file.with_suffix(".tmp")
    tmp.write_bytes(_pem(*chain))
    os.replace(tmp, current.cert_file)
    current.ca_file.write_bytes(_pem(ca))
    (home / TLS_DIR / CA_KEY).unlink(missing_ok=True)
    return current


def ca_fingerprint(ca_file: Path) -> str:
    """The SHA-256 fingerprint of the CA a browser installs, as phones show it (AB:CD:...)."""
    certificate = x509.load_pem_x509_certificate(ca_file.read_bytes())
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def pair_link(base_url: str, code: str, pin: str | None) -> str:
    """A pairing link: the code, and the hub's pin for every client that can check it."""
    link = f"{base_url.rstrip('/')}/pair?code={code}"
    return link + (f"&pin={quote(pin, safe='')}" if pin else "")


# -- clients ------------------------------------------------------------------------------


def peer_pin(host: str, port: int, timeout: float = 5.0) -> tuple[str, bytes]:
    """The pin and certificate of whatever answers TLS at host:port, before anything is sent."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            probe.wrap_socket(raw, server_hostname=host) as wrapped:
        der = wrapped.getpeercert(binary_form=True)
    if der is None:
        raise PinMismatch(f"{host}:{port} sent no certificate")
    return pin_of_certificate(der), der


def pinned_context(url: str, pin: str) -> ssl.SSLContext:
    """A TLS context that accepts only the hub whose key the pin names.

    The certificate the hub shows now is checked against the pin, then trusted as it is
    (OpenSSL's partial chain: the certificate itself is the anchor), so every later
    connection must show that very certificate, with its key: a host that takes the hub's
    address meanwhile cannot. Host names are not checked: the pin is the identity.
    """
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise InvalidInput(f"{url}: a pinned hub is spoken to over https only")
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    try:
        found, der = peer_pin(host, port)
    except (OSError, ssl.SSLError) as error:
        raise InvalidInput(f"the hub at {url} cannot be reached over TLS ({error})") from None
    if found != pin:
        raise PinMismatch(f"the host at {url} is not the paired hub (its key is {found}, the "
                          f"pin says {pin}): nothing was sent to it")
    context = ssl.create_default_context(cadata=ssl.DER_cert_to_PEM_cert(der))
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


def ca_context(ca_file: Path) -> ssl.SSLContext:
    """A TLS context that trusts a home's CA file, host names checked (as a browser would)."""
    return ssl.create_default_context(cafile=str(ca_file))
