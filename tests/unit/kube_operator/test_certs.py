"""The webhook's CA and serving certificates: who they name, who signed them, when they renew."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from pathlib import Path

import pytest

from nsight_operator.certs import (
    covers,
    make_ca,
    make_serving_cert,
    needs_renewal,
    signed_by,
    validity,
)
from tests.support.minio import free_port


def test_a_serving_certificate_names_its_hosts_and_is_signed_by_the_ca() -> None:
    ca = make_ca("test-ca")
    serving = make_serving_cert(ca, dns_names=["hook.ns.svc"], ip_addresses=["127.0.0.1"])
    assert covers(serving.cert_pem, dns_names=["hook.ns.svc"], ip_addresses=["127.0.0.1"])
    assert not covers(serving.cert_pem, dns_names=["other.ns.svc"], ip_addresses=[])
    assert signed_by(serving.cert_pem, ca.cert_pem)
    assert not signed_by(serving.cert_pem, make_ca("another").cert_pem)


def test_renewal_starts_after_two_thirds_of_the_lifetime() -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    ca = make_ca("ca", now=now)
    serving = make_serving_cert(ca, dns_names=["x"], days=90, now=now)
    start, end = validity(serving.cert_pem)
    assert end - start > dt.timedelta(days=89)
    assert not needs_renewal(serving.cert_pem, now=now + dt.timedelta(days=59))
    assert needs_renewal(serving.cert_pem, now=now + dt.timedelta(days=61))
    assert needs_renewal(b"not a certificate")


def test_a_certificate_never_outlives_its_ca() -> None:
    ca = make_ca("short", days=10)
    serving = make_serving_cert(ca, dns_names=["x"], days=90)
    assert validity(serving.cert_pem)[1] <= validity(ca.cert_pem)[1]


def test_a_certificate_needs_a_name() -> None:
    with pytest.raises(ValueError, match="at least one"):
        make_serving_cert(make_ca("ca"))


def test_a_tls_client_trusting_the_ca_completes_a_handshake(tmp_path: Path) -> None:
    """What the apiserver does with caBundle, done with Python's ssl module."""
    ca = make_ca("ca")
    serving = make_serving_cert(ca, dns_names=["localhost"], ip_addresses=["127.0.0.1"])
    (tmp_path / "c.pem").write_bytes(serving.cert_pem)
    (tmp_path / "k.pem").write_bytes(serving.key_pem)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    port = free_port()
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(10)

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"ok")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cadata=ca.cert_pem.decode())
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.recv(2) == b"ok"
    thread.join(5)
    listener.close()
