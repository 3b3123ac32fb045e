"""Where the agent may navigate: the episode's own site, over http, on its own loopback port, nowhere else."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit


class NavigationRefused(ValueError):
    """A URL outside the episode's site (another scheme, host or port): a policy violation."""


def resolve(url: str, current: str, origin: str) -> str:
    """`url` (absolute, or relative to `current`) as an absolute URL on `origin`, or `NavigationRefused`."""
    if not isinstance(url, str) or not url.strip():
        raise NavigationRefused("goto() needs a URL such as \"/orders\"")
    url = url.strip()
    if any(c in url for c in "\\\t\r\n\x00") or any(ord(c) < 32 for c in url):
        raise NavigationRefused(f"the URL {url[:80]!r} has characters a browser would reinterpret")
    target = urljoin(current, url)
    parts, home = urlsplit(target), urlsplit(origin)
    if parts.scheme != "http" or parts.hostname != home.hostname or parts.port != home.port or parts.username or parts.password:
        raise NavigationRefused(f"{url[:80]!r} is outside this site; only its own pages (paths like \"/orders\") are allowed")
    return target.split("#", 1)[0]


def same_origin(url: str, origin: str) -> bool:
    """Whether `url` is on `origin` (scheme, host and port)."""
    a, b = urlsplit(url), urlsplit(origin)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
