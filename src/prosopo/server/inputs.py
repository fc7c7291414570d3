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


# IPv6 forms that carry an IPv4 address, whose owner is the IPv4 address's
NAT64 = ipaddress.ip_network("64:ff9b::/96")            # RFC 6052 well-known prefix
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")    # RFC 8215, local use: a private network's own translator
COMPATIBLE = ipaddress.ip_network("::/96")              # IPv4-compatible (deprecated), ::a.b.c.d
TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")    # IPv4-translated (SIIT), ::ffff:0:a.b.c.d
SITE_LOCAL = ipaddress.ip_network("fec0::/10")          # deprecated, but routed inside some sites


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for: IPv4-mapped,
    IPv4-translated, IPv4-compatible, NAT64 (64:ff9b::/96), 6to4 (2002::/16)
    and Teredo (2001::/32: its server, and its client, whose address is the
    bitwise inverse of the last 32 bits)."""
    last32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in TRANSLATED or ip in NAT64 or ip in COMPATIBLE:
        found.append(last32)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)  # (server, client), the client already inverted
    return found


def _public(address: str) -> bool:
    """Whether ``address`` (as getaddrinfo gives it) is a public unicast
    address, and so is every IPv4 address it embeds."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in NAT64_LOCAL or ip in SITE_LOCAL or ip.is_site_local:
            return False
        inner = embedded_ipv4(ip)
        if inner:
            return all(v4.is_global and not v4.is_multicast for v4 in inner) and not ip.is_multicast
    return ip.is_global and not ip.is_multicast


def _target(url: str) -> tuple[str, str, int, str, str]:
    """Scheme, host, port, path with query and the netloc of an image URL;
    400 for anything malformed (a bad port, a broken IPv6 literal)."""
    try:
        parts = urlsplit(url)
        host, netloc = parts.hostname, parts.netloc
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise Problem(400, "bad_url", f"the image URL is malformed: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise Problem(400, "bad_url", "only http:// and https:// image URLs can be fetched")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise Problem(400, "bad_url", "the image URL holds spaces or control characters; percent-encode them")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port, path, netloc


def fetch(url: str, max_bytes: int) -> bytes:
    """GET ``url`` if it is http(s) on a public address; no redirects."""
    scheme, host, port, path, netloc = _target(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        raise Problem(400, "bad_url", f"cannot resolve {host!r}") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses or not all(_public(a) for a in addresses):
        raise Problem(403, "url_refused", f"{host!r} is a private, loopback or reserved address; "
                                          "the server fetches only from public addresses")
    conn: http.client.HTTPConnection
    if scheme == "http":  # connect to the address just checked, so DNS cannot change it in between
        conn = http.client.HTTPConnection(addresses[0], port, timeout=FETCH_TIMEOUT)
    else:  # the certificate check binds the connection to the host name
        conn = http.client.HTTPSConnection(host, port, timeout=FETCH_TIMEOUT,
                                           context=ssl.create_default_context())
    start = time.monotonic()
    try:
        conn.request("GET", path, headers={"Host": netloc, "User-Agent": "prosopo"})
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
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise Problem(400, "bad_url", f"cannot fetch the image URL: {exc}") from None
    finally:
        conn.close()
