"""Structured JSON logs for the Lambda handlers, with secrets removed before anything is written.

CloudWatch Logs Insights reads one JSON object per line; every record carries the logger, the
level, the message and whatever ``extra`` fields the handler adds (seller, dataset, request id,
status). Nothing secret may reach a log line, so every record passes ``redact`` first:

* values under keys that name secrets (``client_secret``, ``refresh_token``, ``access_token``,
  ``task_token``, ``authorization``, ``password``, ...) become ``"<redacted>"``;
* LWA tokens and client secrets recognised by their shape (``Atzr|...``, ``Atza|...``,
  ``amzn1.oa2-cs...``) are replaced wherever they appear in text;
* the query of every URL is removed (pre-signed document URLs carry credentials).

The toolkit's ``Secret`` already never shows its value; this is the second line of defence for
strings that arrive from elsewhere (an exception message quoting a request, an event payload).
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"
_SECRET_KEYS = re.compile(
    r"secret|token|password|passwd|authorization|credential|api[-_]?key|signature",
    re.IGNORECASE,
)
_SECRET_TEXT = re.compile(
    r"(Atz[ar]\|[A-Za-z0-9_\-|.+/=]+|amzn1\.oa2-cs\.[A-Za-z0-9_\-.]+|"
    r"(?i:bearer)\s+[A-Za-z0-9_\-.=+/|]+)"
)
_URL_QUERY = re.compile(r"((?:https?://|/)[^\s?'\"]*)\?[^\s'\")]*")
# The attributes every LogRecord has; anything else came in through ``extra=``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def redact_text(text: str) -> str:
    """``text`` without LWA tokens, client secrets or URL queries."""
    text = _URL_QUERY.sub(r"\1?<query removed>", text)
    return _SECRET_TEXT.sub(REDACTED, text)


def redact(value: Any) -> Any:
    """A copy of ``value`` (JSON-like: dicts, lists, strings, numbers) safe to log: see the
    module doc. Unknown objects are logged by their ``str``, redacted as text."""
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if _SECRET_KEYS.search(str(k)) else redact(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``level``, ``logger``, ``message``, the ``extra`` fields,
    and ``exception`` (type, redacted message and traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            kind, error, trace = record.exc_info
            line["exception"] = {
                "type": kind.__name__,
                "message": str(error),
                "traceback": "".join(traceback.format_tb(trace)),
            }
        return json.dumps(redact(line), default=str, ensure_ascii=False)


def configure(level: int | str = logging.INFO) -> None:
    """Make every log record of the process one redacted JSON line on the root handlers
    (Lambda's runtime installs one that writes to CloudWatch; a plain process gets stderr)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())
    root.setLevel(level)
