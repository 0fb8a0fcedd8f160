"""Per-client rate limits (SPEC §9 Hardening): game starts, moves, expensive reads and failed
admin authentications, each so many per minute per client address, answered 429 with
``Retry-After`` beyond that. 0 turns a limit off; a request carrying the admin token is not
limited.

Each limit is a token bucket per client: it holds up to a minute's allowance, a request takes a
token, and tokens come back continuously at the limit's rate, so a client may spend a minute's
worth at once and then goes at the limit's pace; ``Retry-After`` is exactly when the next token
is there. A bucket left alone for a minute is full again, the same as no bucket, so it is
dropped: the buckets are kept in order of last use and those at the old end go first, which
keeps memory to the clients seen in the last minute (and at most MAX_CLIENTS per limit). IPv6
clients are counted per /64 (the block one subscriber gets): otherwise one host could use a
fresh address per request.

Why not the ``limits`` package (5.8): it has no token bucket (fixed window, moving window,
sliding-window counter), and its in-memory storage starts a ``threading.Timer`` from the
request's own thread whenever the previous one has lapsed (after 10 ms), to sweep every key.
Measured here: 220 µs per counted request when requests come 12 ms or more apart, as moves from
people do (5 µs back to back), which is as much again as a whole move's server time (about
190 µs). Its async storage runs the same sweep over every key on the event loop instead, and its
moving window keeps one timestamp per request (300 per client for moves). The bucket below costs
2 µs, and nothing runs between requests.

Buckets live in each process: the effective limit is the setting times the number of processes
serving a client (workers × replicas), as the operations guide says.

Client addresses come from the connection; ``X-Forwarded-For`` is believed only from peers in
``TRUSTED_PROXIES``, through uvicorn's ``ProxyHeadersMiddleware``, which the app factory installs
(``rps serve`` turns uvicorn's own copy off, so the setting is the only source of trust).
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from enum import Enum, StrEnum
from functools import lru_cache
from typing import Any

from fastapi import HTTPException, Request
from starlette.types import Scope

from rps.api.schemas import Detail
from rps.settings import AdminTokenError, Settings

# Buckets kept per limit at most (about 5 MB): past it the least recently seen client's goes
# first, which can only ever let that client through sooner, never refuse anyone wrongly.
MAX_CLIENTS = 20_000


class Limit(StrEnum):
    START = "start"
    PLAY = "play"
    READ = "read"
    AUTH_FAIL = "auth_fail"


# What the 429's detail calls each limit, and the setting that sets it.
_WHAT = {
    Limit.START: ("game starts", "RATE_LIMIT_START_PER_MIN"),
    Limit.PLAY: ("moves", "RATE_LIMIT_PLAY_PER_MIN"),
    Limit.READ: ("statistics reads", "RATE_LIMIT_READ_PER_MIN"),
    Limit.AUTH_FAIL: ("failed admin authentications", "RATE_LIMIT_AUTH_FAIL_PER_MIN"),
}


class AdminAuth(Enum):
    ABSENT = "absent"  # no Authorization header, or no admin token configured
    VALID = "valid"
    INVALID = "invalid"


class TooManyRequests(HTTPException):
    def __init__(self, limit: Limit, per_minute: int, retry_after_s: int) -> None:
        what, setting = _WHAT[limit]
        super().__init__(
            429,
            f"too many {what} from this client: at most {per_minute} a minute ({setting} on "
            f"this server); retry in {retry_after_s} s",
            headers={"Retry-After": str(retry_after_s)},
        )


class TokenBuckets:
    """One limit's buckets, by client: ``per_minute`` tokens at most, refilled at
    ``per_minute`` a minute."""

    def __init__(self, per_minute: int, max_clients: int = MAX_CLIENTS) -> None:
        self.per_minute = per_minute
        self._rate_per_s = per_minute / 60.0
        self._max_clients = max_clients
        # client -> (tokens, when they were counted), least recently used first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def wait_s(self, client: str, now: float) -> float:
        """Seconds until the client has a token (0: it has one now)."""
        tokens = self._tokens(client, now)
        return 0.0 if tokens >= 1 else (1 - tokens) / self._rate_per_s

    def take(self, client: str, now: float) -> float:
        """Take a token: 0 when there was one, else the seconds until there is."""
        self._forget_idle(now)
        tokens = self._tokens(client, now)
        wait_s = 0.0 if tokens >= 1 else (1 - tokens) / self._rate_per_s
        self._buckets[client] = (tokens - 1 if wait_s == 0 else tokens, now)
        self._buckets.move_to_end(client)
        return wait_s

    def _tokens(self, client: str, now: float) -> float:
        held = self._buckets.get(client)
        if held is None:
            return float(self.per_minute)
        tokens, counted_at = held
        return min(float(self.per_minute), tokens + (now - counted_at) * self._rate_per_s)

    def _forget_idle(self, now: float) -> None:
        # A bucket untouched for a minute is full: dropping it changes nothing.
        while self._buckets:
            client, (_, counted_at) = next(iter(self._buckets.items()))
            if now - counted_at < 60.0 and len(self._buckets) < self._max_clients:
                return
            del self._buckets[client]


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of ``Authorization: Bearer <token>``; ``""`` for a header of another form;
    None without the header."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, supplied = value.decode("latin-1").partition(" ")
            return supplied.strip() if scheme.lower() == "bearer" else ""
    return None


_AUTH_SCOPE_KEY = "rps.admin_auth"


class RateLimits:
    """The buckets of one process, and the checks the routes (and the ``/play`` fast path) run.
    ``clock`` is monotonic seconds (tests pass their own)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self.clock = clock
        per_minute = {
            Limit.START: settings.RATE_LIMIT_START_PER_MIN,
            Limit.PLAY: settings.RATE_LIMIT_PLAY_PER_MIN,
            Limit.READ: settings.RATE_LIMIT_READ_PER_MIN,
            Limit.AUTH_FAIL: settings.RATE_LIMIT_AUTH_FAIL_PER_MIN,
        }
        self.buckets = {
            limit: TokenBuckets(amount) for limit, amount in per_minute.items() if amount > 0
        }

    def check(self, limit: Limit, scope: Scope) -> None:
        """Count one request of this kind from the scope's client; TooManyRequests beyond the
        limit. Requests with the admin token pass uncounted."""
        buckets = self.buckets.get(limit)
        if buckets is None or self.authenticate(scope) is AdminAuth.VALID:
            return
        wait_s = buckets.take(client_key(scope), self.clock())
        if wait_s:
            raise TooManyRequests(limit, buckets.per_minute, _whole_seconds(wait_s))

    def authenticate(self, scope: Scope) -> AdminAuth:
        """Whether the request carries the admin token; decided once per request.

        A token that is not the admin token is a failed authentication and counts against
        RATE_LIMIT_AUTH_FAIL_PER_MIN. Once a client has used that up, any token it sends is
        answered 429 without being compared — the right one too, or the 429s would tell a
        guesser which of its guesses was right.
        """
        decided: AdminAuth | None = scope.get(_AUTH_SCOPE_KEY)
        if decided is not None:
            return decided
        supplied = bearer_token(scope["headers"])
        try:
            expected = self._settings.admin_token() if supplied is not None else None
        except AdminTokenError:
            expected = None  # an unusable token makes nobody admin (admin routes answer 503)
        if supplied is None or not expected:
            scope[_AUTH_SCOPE_KEY] = AdminAuth.ABSENT
            return AdminAuth.ABSENT
        failures = self.buckets.get(Limit.AUTH_FAIL)
        client = client_key(scope)
        if failures is not None and (wait_s := failures.wait_s(client, self.clock())):
            raise TooManyRequests(Limit.AUTH_FAIL, failures.per_minute, _whole_seconds(wait_s))
        valid = bool(supplied) and hmac.compare_digest(supplied.encode(), expected.encode())
        outcome = AdminAuth.VALID if valid else AdminAuth.INVALID
        scope[_AUTH_SCOPE_KEY] = outcome
        if outcome is AdminAuth.INVALID and failures is not None:
            failures.take(client, self.clock())
        return outcome


def _whole_seconds(wait_s: float) -> int:
    return max(1, math.ceil(wait_s))


def rate_limits_of(app: Any) -> RateLimits:
    limits: RateLimits = app.state.rate_limits
    return limits


class RateLimited:
    """A route dependency: ``dependencies=[Depends(RateLimited(Limit.PLAY))]``.

    The ``/play`` fast path runs the same check through ``check_scope`` (it never builds a
    Request), so the route and the fast path count the same bucket the same way.
    """

    def __init__(self, limit: Limit) -> None:
        self.limit = limit

    async def __call__(self, request: Request) -> None:
        rate_limits_of(request.app).check(self.limit, request.scope)

    def check_scope(self, app: Any, scope: Scope) -> None:
        rate_limits_of(app).check(self.limit, scope)

    def __repr__(self) -> str:
        return f"RateLimited({self.limit.value})"


def client_key(scope: Scope) -> str:
    """Who is counted: the client's address (after trusted proxies), IPv6 per /64."""
    client = scope.get("client")
    return _address_key(client[0] if client else "")


@lru_cache(maxsize=4096)
def _address_key(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"  # a unix socket, or a test client's made-up name
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is the IPv4 client a.b.c.d
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


# OpenAPI: the 429 of the routes a limit applies to.
TOO_MANY_REQUESTS: dict[int | str, dict[str, Any]] = {
    429: {
        "model": Detail,
        "description": "Too many requests of this kind from this client (per-client rate "
        "limit, RATE_LIMIT_*): the detail names the limit, Retry-After says when to retry",
    }
}
