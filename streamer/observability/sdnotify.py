"""systemd's readiness protocol (``Type=notify``) without a dependency.

systemd sets ``NOTIFY_SOCKET``; a datagram ``READY=1`` there says start-up checks passed
(bucket reachable, checkpoint readable), ``STOPPING=1`` that a drain began. Outside
systemd the variable is unset and this is a no-op.
"""

from __future__ import annotations

import os
import socket


def notify(state: str) -> bool:
    """Send ``state`` to systemd; False when not running under ``Type=notify``."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall(state.encode())
        except OSError:
            return False
    return True
