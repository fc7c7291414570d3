"""Images as clients send them: multipart uploads, base64 or data URIs in
JSON, and (only when the server allows it) http(s) URLs.

A JSON string is always decoded here as base64 or a data URI and handed to
prosopo as bytes: never as a path, so a client cannot make the server read
its own files. URL fetching is a server-side request forgery hole, so it is
off by default; when on, only http and https to public addresses are
fetched, redirects are not followed, and size and time are bounded.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import ipaddress
import socket
import ssl
import time
from urllib.parse import urlsplit

from .problems import Problem

FETCH_TIMEOUT = 10.0


def decode(value: str) -> bytes:
    """Bytes of a base64 string or a ``data:`` URI."""
    text = value.strip()
    if text.startswith("data:"):
        head, _, text = text.partition(",")
        if ";base64" not in head:
            raise Problem(400, "bad_image", "a data URI must be base64-encoded (data:image/...;base64,...)")
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise Problem(400, "bad_image", "the image is not valid base64 (send a base64 string, a data URI, "
                                        "or a multipart file upload)") from None
    if not data:
        raise Problem(400, "bad_image", "the image is empty")
    return data


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def fetch(url: str, max_bytes: int) -> bytes:
    """GET ``url`` if it is http(s) on a public address; no redirects."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Problem(400, "bad_url", "only http:// and https:// image URLs can be fetched")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Problem(400, "bad_url", f"cannot resolve {parts.hostname!r}") from None
    addresses = sorted({info[4][0] for info in infos})
    if not addresses or not all(_public(a) for a in addresses):
        raise Problem(403, "url_refused", f"{parts.hostname!r} is a private, loopback or reserved address; "
                                          "the server fetches only from public addresses")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "http":  # connect to the address just checked, so DNS cannot change it in between
        conn = http.client.HTTPConnection(addresses[0], port, timeout=FETCH_TIMEOUT)
    else:  # the certificate check binds the connection to the host name
        conn = http.client.HTTPSConnection(parts.hostname, port, timeout=FETCH_TIMEOUT,
                                           context=ssl.create_default_context())
    start = time.monotonic()
    try:
        conn.request("GET", path, headers={"Host": parts.netloc, "User-Agent": "prosopo"})
        reply = conn.getresponse()
        if reply.status != 200:
            raise Problem(400, "bad_url", f"the URL answered HTTP {reply.status} (redirects are not followed)")
        data = b""
        while chunk := reply.read(65536):
            data += chunk
            if len(data) > max_bytes:
                raise Problem(413, "too_large", f"the image at the URL is larger than {max_bytes} bytes")
            if time.monotonic() - start > FETCH_TIMEOUT:
                raise Problem(504, "timeout", "fetching the image URL took too long")
        return data
    except (OSError, http.client.HTTPException) as exc:
        raise Problem(400, "bad_url", f"cannot fetch the image URL: {exc}") from None
    finally:
        conn.close()
