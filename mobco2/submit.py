"""``mobco2 submit``: build this month's signed document, then write it, show it or send it.

Sending needs the user's consent for that URL, given once (a question on a terminal, or
``yes=True``) and recorded in the catalog. Every answer the cooperative gives is recorded too
(URL, period, document sha256, HTTP status, time), never the document itself; a send that
finally fails on the network records nothing, so the next run sends it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mobco2.errors import InputDataError, UsageError
from mobco2.export.atomic import write_atomic
from mobco2.export.send import IDEMPOTENCY_HEADER, Answer, RetryPolicy, check_url, post_document
from mobco2.signing import canonical, document_sha256


@dataclass
class SubmitResult:
    """What ``submit`` did: the document, its identity, and the cooperative's answer if sent."""

    document: dict[str, Any]
    body: bytes
    sha256: str
    action: str  # "printed" | "written" | "dry-run" | "sent"
    url: str | None = None
    out: Path | None = None
    answer: Answer | None = None
    headers: dict[str, str] = field(default_factory=dict)


def next_revision(store: Any) -> Callable[[str, str, str], int]:
    """``(participant, period, content) -> revision``: the last accepted revision if its content is
    the same, else one more than the highest accepted (1 for a first submission)."""

    def revision(participant: str, period: str, content: str) -> int:
        with store.reader() as con:
            rows = con.execute(
                "SELECT revision, content_sha256 FROM submissions WHERE participant = ? AND period = ? "
                "AND outcome = 'accepted' ORDER BY revision DESC, sent_at DESC LIMIT 1",
                [participant, period],
            ).fetchall()
        if not rows:
            return 1
        rev, last_content = rows[0]
        return int(rev) if last_content == content else int(rev) + 1

    return revision


def has_consent(store: Any, url: str) -> bool:
    with store.reader() as con:
        return bool(con.execute("SELECT count(*) FROM submission_consents WHERE url = ?", [url]).fetchone()[0])


def record_consent(store: Any, url: str, how: str) -> None:
    with store.writer() as w:
        w.con.execute(
            "INSERT INTO submission_consents VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [url, datetime.now(UTC), how]
        )


def submit(
    store: Any,
    month: str,
    *,
    to: str | None = None,
    out: Path | None = None,
    dry_run: bool = False,
    yes: bool = False,
    ask: Callable[[str], bool] | None = None,
    policy: RetryPolicy | None = None,
    user_id: str | None = None,
    cfg: Any = None,
) -> SubmitResult:
    """Build the month's submission and print it, write it to ``out`` or send it ``to`` a URL.

    ``ask(url)`` asks the user for consent (None when there is no terminal to ask on); without a
    recorded consent, ``yes`` or a yes from ``ask``, sending is refused with exit code 2.
    ``dry_run`` builds, signs and shows what would be sent, and sends and records nothing.

    Example::

        submit(Store(), "last", to="https://coop.example/submissions", yes=True).answer.status
    """
    from mobco2.export.submission import build_submission
    from mobco2.keys import load_keys

    if to and out:
        raise UsageError("use either --to or --out, not both")
    if to:
        check_url(to)
    keys = load_keys(store.root)
    doc = build_submission(store, month, keys=keys, user_id=user_id, cfg=cfg, revision_of=next_revision(store))
    body = canonical(doc)
    sha = document_sha256(doc)
    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: sha} if to else {}
    result = SubmitResult(document=doc, body=body, sha256=sha, action="printed", url=to, out=out, headers=headers)
    if dry_run:
        result.action = "dry-run"
        return result
    if out is not None:
        write_atomic(Path(out), body + b"\n")
        result.action = "written"
        return result
    if not to:
        return result
    _ensure_consent(store, to, yes, ask)
    answer = post_document(to, body, idempotency_key=sha, policy=policy)
    outcome = "accepted" if answer.status in (200, 201) else "rejected"
    from mobco2.export.submission import content_sha256

    with store.writer() as w:
        w.con.execute(
            "INSERT INTO submissions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [to, doc["period"], doc["participant"], doc["revision"], sha, content_sha256(doc), outcome,
             answer.status, answer.reason[:500], answer.attempts, datetime.now(UTC)],
        )
    result.action = "sent"
    result.answer = answer
    if outcome == "rejected":
        raise InputDataError(
            f"{to} refused the {doc['period']} submission: HTTP {answer.status} {answer.reason}",
            hint="an unknown key needs registering: send the cooperative `mobco2 keys export-public`",
        )
    return result


def _ensure_consent(store: Any, url: str, yes: bool, ask: Callable[[str], bool] | None) -> None:
    if has_consent(store, url):
        return
    if yes:
        record_consent(store, url, "--yes")
        return
    if ask is None:
        raise UsageError(
            f"you have not agreed to send submissions to {url}",
            hint="run it once on a terminal to be asked, or pass --yes to agree",
        )
    if not ask(url):
        raise UsageError(f"not sending to {url}: you declined", hint="nothing was sent")
    record_consent(store, url, "asked on a terminal")


def submission_status(store: Any) -> list[dict[str, Any]]:
    """Every submission sent, oldest first: URL, period, revision, document sha256, answer, time."""
    with store.reader() as con:
        cur = con.execute(
            "SELECT sent_at, url, period, participant, revision, document_sha256, outcome, http_status, answer, "
            "attempts FROM submissions ORDER BY sent_at"
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
