"""The shared Content-MD5: computed once per body object, always the body's own MD5."""

from __future__ import annotations

import base64
import hashlib

from streamer.sinks import digest


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_the_same_body_is_hashed_once_and_others_get_their_own_digest() -> None:
    """The second service gets the cached digest; another body never gets a stale one."""
    body = b"x" * 100_000
    assert digest.content_md5(body) == _md5(body)
    assert digest.content_md5(body) == _md5(body)
    other = bytes(bytearray(body))  # equal content, another object
    assert digest.content_md5(other) == _md5(other)
    changed = b"y" + body[1:]
    assert digest.content_md5(changed) == _md5(changed)
    assert digest.content_md5(body) == _md5(body)
