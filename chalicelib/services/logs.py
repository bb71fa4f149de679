"""Plan and apply logs.

While a phase runs, its runner sends chunks through the runner API (runner/monitor.py, at most
every 0.25 s), stored in DynamoDB (log-chunks, one item per chunk), so a reader sees a printed
line within about a second, from any process. When the phase ends, the whole log is stored in S3 and readers use that.
The read URL carries its credential in the path: go-tfe replaces the query string with
limit/offset and sends no Authorization header. The body is STX + log (+ ETX once the phase
is over), which go-tfe's log reader expects."""
from __future__ import annotations

from ..aws import blobs
from ..config import settings
from ..domain.errors import PayloadTooLarge, Unprocessable
from ..storage import keys
from ..storage import logs as store
from . import signing

STX, ETX = "\x02", "\x03"
LOG_PURPOSE = "log-read"
MAX_CHUNK = 300_000   # characters; DynamoDB items are capped at 400 KB


def read_url(org: str, phase_id: str) -> str:
    s = settings()
    return f"{s.public_url}/_logs/v1/{signing.sign(LOG_PURPOSE, org, phase_id, s.log_url_ttl)}"


# A runner's chunks are numbered from 1; the service's own closing words on a phase (canceled,
# errored) come after every one of them.
CLOSING_SEQ = 1_000_000_000


def append(phase_id: str, seq: int, text: str) -> None:
    """A runner's chunk. A retried chunk (same seq) overwrites itself: nothing doubles."""
    if not 1 <= seq < CLOSING_SEQ:
        raise Unprocessable("seq must be a positive integer", pointer="/seq")
    if len(text) > MAX_CHUNK:
        raise PayloadTooLarge(f"a log chunk holds at most {MAX_CHUNK} characters")
    store.append(phase_id, seq, text)


def archive(phase_id: str, closing: str = "") -> str:
    """The phase's log, from its chunks (and the service's closing words), to S3 (the durable
    copy readers use once the phase is over); returns the text."""
    if closing:
        store.append(phase_id, CLOSING_SEQ, closing)
    text = store.text(phase_id)
    body = text.encode()
    blobs.put(keys.log(phase_id), body, length=len(body), content_type="text/plain")
    return text


def read(phase_id: str, *, archived: bool, finished: bool) -> str:
    if archived:
        text = blobs.read(keys.log(phase_id)).decode("utf-8", "replace")
    else:
        text = store.text(phase_id)
    return STX + text + (ETX if finished else "")


def slice_(body: str, offset: int | None, limit: int | None) -> str:
    """`limit` bytes from byte `offset`. The end never splits a UTF-8 character (terraform's
    error boxes use them), so the text a client receives has exactly the bytes it counts and
    its next offset starts on a character boundary."""
    data = body.encode()
    start = min(max(offset or 0, 0), len(data))
    end = len(data) if not limit else min(start + limit, len(data))
    while start < end < len(data) and (data[end] & 0xC0) == 0x80:
        end -= 1
    return data[start:end].decode("utf-8", "replace")
