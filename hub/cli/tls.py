"""The hub's certificate on the LAN: see it, switch HTTPS on for an older home, and have the
chain's CA at HQ sign it (request at the store, sign at HQ, install at the store)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import Obj, cli, emit_json, pass_obj
from .hq import hq_group

if TYPE_CHECKING:
    from ..tls import HubCertificate


@cli.group("tls")
def tls_group() -> None:
    """HTTPS on the LAN: the hub's key, its certificate and the pin devices check."""


def _certificate(obj: Obj) -> HubCertificate:
    from ..discovery import hub_certificate
    from ..domain.errors import InvalidInput

    certificate = hub_certificate(obj.home, obj.store().settings)
    if certificate is None:
        raise InvalidInput(f"{obj.home} serves plain HTTP: `laoke tls enable` switches HTTPS on")
    return certificate


@tls_group.command("show")
@click.option("--json", "as_json", is_flag=True, help='Print {"pin", "ca_fingerprint", ...}.')
@pass_obj
def tls_show(obj: Obj, as_json: bool) -> None:
    """The pin devices check and the fingerprint a tablet compares before trusting the CA."""
    from ..tls import ca_fingerprint

    certificate = _certificate(obj)
    shown = {"pin": certificate.pin, "ca_fingerprint": ca_fingerprint(certificate.ca_file),
             "ca_file": str(certificate.ca_file), "cert_file": str(certificate.cert_file),
             "signed_by": "this store's own CA" if (certificate.ca_file.parent / "ca.key")
             .exists() else "the chain's CA"}
    if as_json:
        emit_json(shown)
        return
    for key, value in shown.items():
        click.echo(f"{key:15} {value}")


@tls_group.command("enable")
@pass_obj
def tls_enable(obj: Obj) -> None:
    """Serve HTTPS from the next start of the hub (a home made before HTTPS was the default).

    Paired browsers keep their cookie but must open https:// links from now on; plain HTTP
    answers only /api/v1/health and a redirect.
    """
    from ..discovery import hub_certificate
    from ..domain.config import load_settings, write_settings

    obj.store()  # a new home is made as any command makes it
    settings = load_settings(obj.home, environ={})  # the file's own values
    settings.api.tls = True
    write_settings(obj.home, settings)
    certificate = hub_certificate(obj.home, settings)
    assert certificate is not None  # tls is on
    click.echo(f"HTTPS on from the hub's next start (pin {certificate.pin}); restart it")


@tls_group.command("renew")
@pass_obj
def tls_renew(obj: Obj) -> None:
    """A new certificate for the addresses the hub has now (same key: the pin stays, and
    tablets that trust the store's CA trust it too); restart the hub."""
    from ..discovery import interfaces_of, lan_addresses
    from ..tls import renew_certificate

    settings = obj.store().settings
    addresses = lan_addresses(interfaces_of(settings))
    certificate = renew_certificate(obj.home, settings.store_id, addresses)
    click.echo(f"renewed for {', '.join(addresses)}; pin {certificate.pin} (unchanged); "
               "restart the hub")


@tls_group.command("request")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the request (PEM) for HQ.")
@pass_obj
def tls_request(obj: Obj, out: Path) -> None:
    """A certificate request from the hub's own key, for `laoke hq tls sign` at HQ."""
    from ..discovery import interfaces_of, lan_addresses
    from ..tls import certificate_request

    settings = obj.store().settings
    out.write_bytes(certificate_request(obj.home, settings.store_id,
                                        lan_addresses(interfaces_of(settings))))
    click.echo(f"wrote {out}: have HQ sign it (`laoke hq tls sign {out.name} ...`)")


@tls_group.command("install")
@click.argument("signed", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_obj
def tls_install(obj: Obj, signed: Path) -> None:
    """Serve the certificate HQ signed (the file `laoke hq tls sign` wrote); the pin stays."""
    from ..tls import install_certificate

    certificate = install_certificate(obj.home, signed.read_bytes())
    click.echo(f"installed; pin {certificate.pin} (unchanged); restart the hub")


@hq_group.group("tls")
def hq_tls() -> None:
    """The chain's CA signs every store's hub certificate."""


@hq_tls.command("sign")
@click.argument("request", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--ca-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="The chain's CA certificate (PEM).")
@click.option("--ca-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="Its private key (PEM, unencrypted; keep it off the LAN).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The store's certificate with the CA after it, for `laoke tls install`.")
def hq_tls_sign(request: Path, ca_cert: Path, ca_key: Path, out: Path) -> None:
    """Sign a store's request (`laoke tls request`) with the chain's CA."""
    from ..tls import sign_request

    out.write_bytes(sign_request(request.read_bytes(), ca_cert.read_bytes(),
                                 ca_key.read_bytes()))
    click.echo(f"wrote {out}: `laoke tls install {out.name}` at the store")
