"""What a command builds from its click context: the resolved :class:`Settings`, the
connection string (with the embedded fallback), a :class:`Migrator`, and the secrets
that every message masks.

Only the command modules of :mod:`pgshift.cli` use it. It imports pgshift's library
modules inside the functions, so the command modules can import it at start-up.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pgshift.cli.options import global_opts
from pgshift.cli.output import event_reporter
from pgshift.errors import ConfigError

if TYPE_CHECKING:
    from pgshift.config import Settings
    from pgshift.engine.cache import FactsCache
    from pgshift.engine.migrator import Migrator

_SECRETS = "pgshift.secrets"


def known_secrets(ctx: click.Context) -> tuple[str, ...]:
    """The passwords found so far (settings, ``--scratch-url``): never printed."""
    return tuple(ctx.find_root().meta.get(_SECRETS, ()))


def add_secrets(ctx: click.Context, secrets: tuple[str, ...]) -> None:
    root = ctx.find_root().meta
    root[_SECRETS] = (*root.get(_SECRETS, ()), *secrets)


def settings_for(ctx: click.Context, *,
                 files_known: Callable[[Path], object] | None = None) -> Settings:
    """The settings from the global options, the environment, ``.env`` and
    ``[tool.pgshift]``; their secrets are remembered for masking. ``files_known``: see
    :func:`pgshift.config.resolve`."""
    from pgshift.config import CliValues, resolve

    opts = global_opts(ctx)
    settings = resolve(
        CliValues(opts.get("database_url"), opts.get("directory"), opts.get("table"),
                  opts.get("env_file"), tuple(opts.get("variables") or ())),
        os.environ,
        Path.cwd(),
        files_known=files_known,
    )
    ctx.find_root().meta[_SECRETS] = settings.secrets
    return settings


def database_url(ctx: click.Context, settings: Settings) -> str:
    """The configured connection string, else the embedded server's (started if needed,
    and said so on stderr unless ``--quiet``)."""
    if settings.conninfo is not None:
        return settings.conninfo
    from pgshift.embedded import server as embedded

    server, started = embedded.start_for(settings.embedded_dir,
                                         hint="set DATABASE_URL to use another server")
    if not global_opts(ctx).get("quiet"):
        verb = "started" if started else "using"
        click.echo(f"pgshift: no DATABASE_URL: {verb} the embedded PostgreSQL {server.version} "
                   f"in ./{settings.embedded_dir.name} ({server.url})", err=True)
    return server.url


def migrator_for(ctx: click.Context, *, parse_ahead: bool = False,
                 **options: Any) -> Migrator:
    """A Migrator for the resolved settings, reporting its events on stderr; ``None``
    options fall back to ``[tool.pgshift]`` and then to the library defaults.
    ``parse_ahead``: the command applies migrations; their files are parsed by a child
    process while this one connects (:meth:`FactsCache.parse_ahead`)."""
    caches: list[FactsCache] = []

    def files_known(migrations_dir: Path) -> None:
        # before the connection settings load psycopg: the child parses meanwhile
        caches.append(file_cache(ctx, migrations_dir))
        if parse_ahead:
            caches[0].parse_ahead(migrations_dir)

    settings = settings_for(ctx, files_known=files_known)
    # imported once the child parses: its modules load meanwhile
    from pgshift.engine.migrator import Migrator

    options = run_settings(settings, **options)
    cache = caches[0]
    conninfo = database_url(ctx, settings)
    return Migrator(conninfo, settings.directory, table=_table(settings),
                    on_event=event_reporter(ctx), facts=cache.facts, parse=cache.parse,
                    variables=settings.variables, **options)


def run_settings(settings: Settings, **options: Any) -> dict[str, Any]:
    """The run options given (``strict``, ``atomic``, ``lock_wait``, ``lock_timeout``,
    …), each ``None`` one replaced by ``[tool.pgshift]``'s value, else left out (the
    library's default applies).

    Raises:
        ConfigError: a ``[tool.pgshift]`` value of the wrong type.
    """
    kinds = {"strict": bool, "atomic": bool, "lock_wait": float, "lock_timeout": float}
    for key, kind in kinds.items():
        if key in options:
            options[key] = _project_option(settings, key, options[key], kind)
    return {k: v for k, v in options.items() if v is not None}


def file_cache(ctx: click.Context, migrations_dir: Path) -> FactsCache:
    """The cache of the facts and parses of ``migrations_dir``'s files (its ``facts`` and
    ``parse`` read through it), saved when the command ends."""
    from pgshift.engine.cache import FactsCache, default_path

    cache = FactsCache(default_path(migrations_dir, os.environ))
    ctx.call_on_close(cache.save)
    return cache


def offline_migrator(settings: Settings, **options: Any) -> Migrator:
    """A Migrator that never connects: for commands that read only files."""
    from pgshift.engine.migrator import Migrator

    return Migrator(settings.conninfo or "", settings.directory, table=_table(settings),
                    variables=settings.variables, **options)


def _table(settings: Settings) -> str:
    """The tracking table as a quoted, optionally schema-qualified identifier."""
    parts = [p for p in (settings.table_schema, settings.table_name) if p is not None]
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


def _project_option(settings: Settings, key: str, value: Any, kind: type) -> Any:
    """A command-line value, else ``[tool.pgshift] key``, checked for its type."""
    if value is not None:
        return value
    found = settings.project.get(key)
    if found is None:
        return None
    if kind is float and isinstance(found, int) and not isinstance(found, bool):
        found = float(found)
    if not isinstance(found, kind) or (kind is not bool and isinstance(found, bool)):
        raise ConfigError(f"[tool.pgshift] {key} = {found!r} must be a {kind.__name__}")
    return found


def checked_scratch_url(ctx: click.Context, url: str | None) -> str | None:
    """``--scratch-url`` checked, and its password added to the secrets that are masked."""
    if url is None:
        return None
    from psycopg.conninfo import conninfo_to_dict

    try:
        password = conninfo_to_dict(url).get("password")
    except Exception:  # psycopg's message may echo the password
        raise ConfigError("--scratch-url is not a valid PostgreSQL URL or key=value "
                          "string") from None
    if password:
        add_secrets(ctx, (str(password),))
    return url
