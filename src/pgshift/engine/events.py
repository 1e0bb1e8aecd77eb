"""Every progress event also goes to the standard ``logging`` logger ``pgshift``."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pgshift.results import Event

LOGGER = logging.getLogger("pgshift")
LOGGER.addHandler(logging.NullHandler())  # a library logs only where the application says

_LOG_LEVELS = {"warning": logging.WARNING, "lock-wait": logging.WARNING, "lint": logging.WARNING,
               "retry": logging.WARNING, "applied": logging.INFO, "reverted": logging.INFO,
               "notice": logging.INFO}


def log_event(event: Event) -> None:
    """Every event also goes to the ``pgshift`` logger (passwords masked)."""
    level = _LOG_LEVELS.get(event.kind, logging.DEBUG)
    if LOGGER.isEnabledFor(level):
        from pgshift.config import redact

        suffix = f" ({event.duration_ms} ms)" if event.duration_ms is not None else ""
        LOGGER.log(level, "%s%s", redact(event.message), suffix)




EventHandler = Callable[[Event], None]


class Emitter:
    """The one way the engine reports progress: every event is logged on the ``pgshift``
    logger and passed to ``handler`` (the ``on_event`` a :class:`Migrator` was given).

    A plain class rather than a dataclass: it is behaviour, not a value, and every
    command defines it at start-up, where a frozen dataclass costs far more to define."""

    __slots__ = ("handler",)

    def __init__(self, handler: EventHandler | None = None) -> None:
        self.handler = handler

    def __call__(self, kind: str, message: str, name: str | None = None,
                 ms: int | None = None, total: int | None = None) -> None:
        event = Event(kind, message, name, ms, total)
        log_event(event)
        if self.handler is not None:
            self.handler(event)
