"""aiohttp's import-time SSL contexts load their CA certificates on first use (issue 17
item 2): the same certificates, and a verified handshake still verifies."""

from __future__ import annotations

import datetime
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from streamer.sinks.lazyca import deferred, deferred_default_certs, load_now


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _handshake(client: ssl.SSLContext, cert: Path, key: Path) -> None:
    """One TLS handshake with a local server presenting ``cert``; raises if it fails."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with server.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with (
                socket.create_connection(("127.0.0.1", port)) as sock,
                client.wrap_socket(sock, server_hostname="localhost"),
            ):
                pass
        finally:
            thread.join()


def test_a_deferred_context_loads_the_default_paths_at_its_first_handshake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made in the block, the context has no CA yet; it loads the default paths (here
    ``SSL_CERT_FILE``, read when they load) right before its first handshake."""
    trusted, trusted_key = _self_signed(tmp_path, "trusted")
    other, _ = _self_signed(tmp_path, "other")
    with deferred_default_certs():
        ctx = ssl.create_default_context()
        refusing = ssl.create_default_context()
    assert "set_default_verify_paths" not in vars(ssl.SSLContext)  # restored after the block
    assert deferred(ctx)
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname
    monkeypatch.setenv("SSL_CERT_FILE", str(trusted))
    _handshake(ctx, trusted, trusted_key)
    assert not deferred(ctx)
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(refusing, trusted, trusted_key)  # loaded, but not the server's issuer
    _handshake(ctx, trusted, trusted_key)  # loaded once: the first load stays


def test_contexts_made_outside_the_block_load_at_once(tmp_path: Path) -> None:
    """Only the block defers; load_now on an ordinary context does nothing."""
    ctx = ssl.create_default_context()
    assert not deferred(ctx)
    load_now(ctx)
    assert ctx.cert_store_stats() == ssl.create_default_context().cert_store_stats()


def test_aiohttps_default_contexts_are_deferred_and_then_hold_the_same_certificates() -> None:
    """In a fresh process (aiohttp imported through the sinks): both of aiohttp's
    import-time contexts wait, then hold what a context made the usual way holds."""
    code = (
        "import ssl\n"
        "import streamer.sinks._aws\n"
        "from aiohttp import connector\n"
        "from streamer.sinks.lazyca import deferred\n"
        "ref = ssl.create_default_context()\n"
        "for ctx in (connector._SSL_CONTEXT_VERIFIED, connector._SSL_CONTEXT_UNVERIFIED):\n"
        "    assert deferred(ctx)\n"
        "    assert ctx.cert_store_stats() == ref.cert_store_stats()\n"
        "    assert ctx.get_ca_certs() == ref.get_ca_certs()\n"
        "    assert not deferred(ctx)\n"
        "assert connector._SSL_CONTEXT_VERIFIED.verify_mode == ssl.CERT_REQUIRED\n"
        "assert connector._SSL_CONTEXT_UNVERIFIED.verify_mode == ssl.CERT_NONE\n"
        "assert 'set_default_verify_paths' not in vars(ssl.SSLContext)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
