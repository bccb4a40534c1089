"""Logging setup: readable lines for people, or JSON lines for log pipelines.

JSON records carry the incident and deployment ids of the flow that wrote
them (services.logcontext), so one grep finds everything about DEP-3.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from services.logcontext import current

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **current(),
        }
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup(*, verbose: bool, json_lines: bool, quiet: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    # The scheduler logs every tick at INFO; ours says what each tick sent.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose else logging.WARNING)
