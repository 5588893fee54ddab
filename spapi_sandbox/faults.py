"""Fault injection: how often the sandbox misbehaves, and a deterministic dice to decide when.

Amazon's service throttles, fails with 500/503, answers slowly, drops connections, truncates
downloads, ends reports FATAL, lets tokens expire early, delivers notifications twice and has at
times served GZIP documents with ``Content-Encoding: gzip`` on top (a client that lets its HTTP
library decode that gets the document already decompressed and must not decompress twice). Clients
must survive all of it, so the sandbox can do each at a configured rate. Every kind of fault has
its own random stream derived from the seed: turning one fault on never changes when another
one fires, and the same seed replays the same misbehaviour for the same sequence of requests.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields

# The short names accepted by ``--faults`` (``429=0.1,500=0.05``) and the field each one sets.
ALIASES = {
    "429": "throttle",
    "500": "error_500",
    "503": "error_503",
    "slow": "slow",
    "reset": "reset",
    "truncate": "truncate",
    "fatal": "fatal_report",
    "expired": "expired_token",
    "duplicate": "duplicate_notification",
    "gzip_header": "content_encoding_gzip",
    "slow_seconds": "slow_seconds",
}


@dataclass
class Faults:
    """Rates (0..1) of each misbehaviour; all zero means a well-behaved service."""

    throttle: float = 0.0  # 429 QuotaExceeded although the bucket had tokens
    error_500: float = 0.0  # 500 InternalFailure
    error_503: float = 0.0  # 503 ServiceUnavailable
    slow: float = 0.0  # answer after ``slow_seconds`` (real seconds)
    slow_seconds: float = 1.0
    reset: float = 0.0  # close the connection without an answer
    truncate: float = 0.0  # send only half of a document download
    fatal_report: float = 0.0  # a report or query ends FATAL
    expired_token: float = 0.0  # a valid access token is answered as expired
    duplicate_notification: float = 0.0  # a notification is delivered twice
    content_encoding_gzip: float = 0.0  # a GZIP document's download says Content-Encoding: gzip
    seed: int = 0
    _streams: dict[str, random.Random] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _fired: Counter[str] = field(default_factory=Counter, repr=False, compare=False)

    @classmethod
    def parse(cls, spec: str, seed: int = 0) -> Faults:
        """Read ``"429=0.1,500=0.05,slow=0.01"``; names are the ``ALIASES`` or field names."""
        faults = cls(seed=seed)
        names = {f.name for f in fields(cls) if not f.name.startswith("_")} - {"seed"}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            key, sep, value = item.partition("=")
            name = ALIASES.get(key.strip(), key.strip())
            if not sep or name not in names:
                valid = ", ".join(sorted(ALIASES))
                raise ValueError(f"bad fault {item!r}: expected NAME=RATE with NAME one of {valid}")
            setattr(faults, name, float(value))
        return faults

    @property
    def active(self) -> bool:
        return any(
            getattr(self, f.name) > 0
            for f in fields(self)
            if f.name not in ("seed", "slow_seconds") and not f.name.startswith("_")
        )

    @property
    def fired(self) -> Counter[str]:
        """How many times each kind (a field name) has fired so far: what a soak test reads to
        know the faults it asked for really happened."""
        with self._lock:
            return Counter(self._fired)

    def roll_for(self, kind: str, key: str) -> bool:
        """True when the fault ``kind`` fires for ``key`` (e.g. a request and its attempt): one
        draw per key from the seed, whatever the order in which keys come (which depends on
        threads and timing), so the same request fails the same way in every run."""
        digest = hashlib.sha256(f"{self.seed}:{kind}:{key}".encode()).digest()
        return self._fires(kind, lambda: int.from_bytes(digest[:8], "big") / 2**64)

    def roll(self, kind: str) -> bool:
        """True when the fault ``kind`` (a field name) fires this time: the next draw of the
        kind's own seeded stream."""
        return self._fires(kind, lambda: self._stream(kind).random())

    def _fires(self, kind: str, draw: Callable[[], float]) -> bool:
        """Whether ``kind`` fires on ``draw`` (uniform in [0, 1)), counted when it does; a kind
        whose rate is 0 never draws."""
        rate = getattr(self, kind)
        if rate <= 0:
            return False
        with self._lock:
            hit = draw() < rate
            if hit:
                self._fired[kind] += 1
            return hit

    def _stream(self, kind: str) -> random.Random:
        stream = self._streams.get(kind)
        if stream is None:
            digest = hashlib.sha256(f"{self.seed}:{kind}".encode()).digest()
            stream = self._streams[kind] = random.Random(int.from_bytes(digest[:8], "big"))
        return stream
