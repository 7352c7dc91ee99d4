"""POST a document to a cooperative: HTTPS (plain HTTP to loopback only), an idempotency key, and
retries with exponential backoff on 5xx and network errors, bounded in count and in total time.
"""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mobco2.errors import NetworkError, UsageError

IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: at most ``max_retries`` retries after the first attempt, waits doubling
    from ``base_s`` (with jitter), and never more than ``max_total_s`` from first attempt to
    giving up; each request waits at most ``timeout_s`` for an answer."""

    max_retries: int = 5
    base_s: float = 0.5
    max_total_s: float = 60.0
    timeout_s: float = 15.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base_s < 0 or self.max_total_s < 0 or self.timeout_s <= 0:
            raise UsageError("retry settings must be positive", hint="e.g. --max-retries 5 --retry-max-s 60")


@dataclass(frozen=True)
class Answer:
    """The cooperative's final answer: HTTP status, its JSON body (or text), attempts made."""

    status: int
    body: Any
    attempts: int

    @property
    def reason(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("reason") or self.body.get("status") or "")
        return str(self.body)[:200]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """``url`` if it is https, or http to a loopback address; a :class:`UsageError` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UsageError(f"--to {url!r} is not an http(s) URL", hint="e.g. https://coop.example/submissions")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise UsageError(
            f"refusing to send over plain http to {parts.hostname}",
            hint="use https:// (plain http is allowed only to 127.0.0.1, ::1 or localhost)",
        )
    return url


def post_document(
    url: str,
    body: bytes,
    *,
    idempotency_key: str,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Answer:
    """POST ``body`` (JSON) to ``url``; the first non-5xx answer, or :class:`NetworkError` (exit 75)
    once retries or time run out."""
    import httpx

    policy = policy or RetryPolicy()
    check_url(url)
    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: idempotency_key}
    start = time.monotonic()
    last = "no attempt"
    attempt = 0
    waited = 0.0
    with httpx.Client(timeout=policy.timeout_s, follow_redirects=False) as client:
        while True:
            attempt += 1
            try:
                r = client.post(url, content=body, headers=headers)
            except httpx.HTTPError as e:
                last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            else:
                if r.status_code < 500:
                    try:
                        answer: Any = r.json()
                    except ValueError:
                        answer = r.text
                    return Answer(r.status_code, answer, attempt)
                last = f"HTTP {r.status_code}"
            if attempt > policy.max_retries:
                break
            wait = policy.base_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
            # the waits alone count too, so that the bound holds whatever `sleep` does
            if max(time.monotonic() - start, waited) + wait > policy.max_total_s:
                break
            sleep(wait)
            waited += wait
    raise NetworkError(
        f"could not submit to {url} after {attempt} attempt(s) in {time.monotonic() - start:.1f} s: {last}",
        hint="nothing was recorded as sent; run the same command again later",
    )
