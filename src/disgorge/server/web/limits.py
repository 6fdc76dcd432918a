"""A per-client token bucket for the public pages (the subject's lookup, sign-in attempts)."""

from __future__ import annotations

import os
import threading
import time

from starlette.requests import Request

from disgorge.errors import RateLimited


class RateLimiter:
    def __init__(self, per_minute: float | None = None, burst: int | None = None) -> None:
        self.rate = (per_minute or float(os.environ.get("DISGORGE_WEB_LOOKUPS_PER_MINUTE", 10))) / 60
        self.burst = burst or int(os.environ.get("DISGORGE_WEB_LOOKUP_BURST", 5))
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, request: Request, what: str) -> None:
        """Spend one request of this client's allowance for ``what``; RateLimited (429) when it is spent."""
        client = request.client.host if request.client else "?"
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > 50_000:
                self._buckets.clear()
            tokens, at = self._buckets.get((client, what), (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens < 1:
                wait = int((1 - tokens) / self.rate) + 1
                raise RateLimited(
                    f"too many {what} requests from this address", hint=f"try again in {wait} seconds"
                )
            self._buckets[(client, what)] = (tokens - 1, now)
