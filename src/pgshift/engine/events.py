"""Every progress event also goes to the standard ``logging`` logger ``pgshift``."""

from __future__ import annotations

import logging

from pgshift.results import Event

LOGGER = logging.getLogger("pgshift")
LOGGER.addHandler(logging.NullHandler())  # a library logs only where the application says

_LOG_LEVELS = {"warning": logging.WARNING, "lock-wait": logging.WARNING, "lint": logging.WARNING,
               "retry": logging.WARNING, "applied": logging.INFO, "reverted": logging.INFO,
               "notice": logging.INFO}


def log_event(event: Event) -> None:
    """Every event also goes to the ``pgshift`` logger (passwords masked)."""
    from pgshift.config import redact

    level = _LOG_LEVELS.get(event.kind, logging.DEBUG)
    if LOGGER.isEnabledFor(level):
        suffix = f" ({event.duration_ms} ms)" if event.duration_ms is not None else ""
        LOGGER.log(level, "%s%s", redact(event.message), suffix)


