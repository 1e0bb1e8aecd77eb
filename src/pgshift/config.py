"""Settings: where they come from and what they mean.

Precedence: command-line flag > environment > ``.env`` > ``[tool.pgshift]`` > default.
:func:`resolve` is pure: it reads the environment only through its ``environ`` argument
and files only under ``cwd`` (or the ``--env-file`` given). :func:`redact` masks passwords
in any text that may be shown.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import unquote

from pgshift.errors import ConfigError

DEFAULT_DIR = "migrations"
DEFAULT_TABLE = "_migrations"
EMBEDDED_DIR = ".pgshift"
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}
_STRONG_SSLMODES = {"require", "verify-ca", "verify-full"}
# libpq environment variables a .env file may carry, with their conninfo keywords
_PG_ENV = {
    "PGHOST": "host", "PGHOSTADDR": "hostaddr", "PGPORT": "port", "PGDATABASE": "dbname",
    "PGUSER": "user", "PGPASSWORD": "password", "PGSERVICE": "service",
    "PGSSLMODE": "sslmode", "PGSSLROOTCERT": "sslrootcert", "PGSSLCERT": "sslcert",
    "PGSSLKEY": "sslkey", "PGAPPNAME": "application_name", "PGCONNECT_TIMEOUT": "connect_timeout",
    "PGOPTIONS": "options", "PGPASSFILE": "passfile", "PGTARGETSESSIONATTRS":
    "target_session_attrs",
}

PYPROJECT_KEYS = frozenset({"dir", "table", "lock_wait", "lock_timeout", "strict", "atomic",
                            "vars", "fleet"})
VAR_PREFIX = "PGSHIFT_VAR_"
# matched with re.match, compiled at the first use: most runs have no variables
_VAR_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_IDENT = r'(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")'
_TABLE_NAME = re.compile(rf"^(?:(?P<schema>{_IDENT})\.)?(?P<name>{_IDENT})$")


class CliValues(NamedTuple):
    """What the command line said (None: not given). A NamedTuple rather than a
    dataclass: every command defines it at start-up, and a NamedTuple costs far less to
    define."""

    database_url: str | None = None
    directory: str | None = None
    table: str | None = None
    env_file: str | None = None
    variables: tuple[str, ...] = ()


class Settings(NamedTuple):
    """Resolved settings. ``conninfo`` is None when the embedded server is to be used.

    A NamedTuple rather than a dataclass (see :class:`CliValues`); its mappings default to
    an empty read-only one, shared by every instance."""

    conninfo: str | None
    url_source: str
    directory: Path
    table_schema: str | None
    table_name: str
    secrets: tuple[str, ...] = ()
    project: Mapping[str, Any] = MappingProxyType({})
    cwd: Path = Path(".")
    variables: Mapping[str, str] = MappingProxyType({})

    @property
    def embedded_dir(self) -> Path:
        return self.cwd / EMBEDDED_DIR


def resolve(cli: CliValues, environ: Mapping[str, str], cwd: Path, *,
            files_known: Callable[[Path], object] | None = None) -> Settings:
    """Combine flag, environment, ``.env`` and ``[tool.pgshift]`` into Settings.

    ``files_known`` is called with the migrations directory as soon as it is known, before
    the connection settings are worked out (they load the database driver): a command can
    start work on its files meanwhile.

    Raises:
        ConfigError: names the bad setting and where it came from.
    """
    dotenv = _read_dotenv(cli.env_file, cwd)
    project = read_pyproject(cwd)
    merged = {**dotenv, **environ}

    def origin(name: str) -> str:
        return "environment" if name in environ else ".env"

    url, url_source = cli.database_url, "--database-url"
    if url is None and merged.get("DATABASE_URL"):
        url, url_source = merged["DATABASE_URL"], f"DATABASE_URL ({origin('DATABASE_URL')})"
    ssl = _parse_ssl(merged.get("DATABASE_SSL"), origin("DATABASE_SSL"))
    pg_from_dotenv = {k: v for k, v in dotenv.items() if k in _PG_ENV and k not in environ}
    libpq_target = any(merged.get(k) for k in ("PGHOST", "PGHOSTADDR", "PGDATABASE", "PGSERVICE"))
    directory = Path(cli.directory or str(project.get("dir") or DEFAULT_DIR))
    table_schema, table_name = parse_table_name(
        cli.table if cli.table is not None else str(project.get("table") or DEFAULT_TABLE),
        "--table" if cli.table is not None else "[tool.pgshift] table",
    )
    directory = directory if directory.is_absolute() else cwd / directory
    common = {
        "directory": directory,
        "table_schema": table_schema,
        "table_name": table_name,
        "project": project,
        "cwd": cwd,
        "variables": resolve_variables(cli.variables, merged, project),
    }
    if files_known is not None:
        files_known(directory)
    if url is None and not libpq_target:
        return Settings(conninfo=None, url_source="embedded", **common)  # type: ignore[arg-type]
    if url is None:
        url, url_source = "", "libpq environment (PG* variables)"
    conninfo, secrets = build_conninfo(url, url_source, ssl, environ, pg_from_dotenv)
    if merged.get("PGPASSWORD"):
        secrets = (*secrets, merged["PGPASSWORD"])
    return Settings(conninfo=conninfo, url_source=url_source, secrets=secrets, **common)  # type: ignore[arg-type]


def resolve_variables(given: tuple[str, ...], environ: Mapping[str, str],
                      project: Mapping[str, Any]) -> dict[str, str]:
    """The values of placeholders: ``--var NAME=VALUE`` (``given``), else
    ``PGSHIFT_VAR_<NAME>`` of the environment (or ``.env``), else ``[tool.pgshift.vars]``.

    Raises:
        ConfigError: a malformed ``--var``, a bad name or a value that is not a string,
            number or boolean in ``[tool.pgshift.vars]``.
    """
    values: dict[str, str] = {}
    table = project.get("vars", {})
    if not isinstance(table, dict):
        raise ConfigError("[tool.pgshift] vars must be a table ([tool.pgshift.vars])")
    for name, value in table.items():
        if not re.match(_VAR_NAME, name):
            raise ConfigError(f"[tool.pgshift.vars] {name!r} is not a variable name",
                              hint="names are letters, digits and _, not starting with a digit")
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"[tool.pgshift.vars] {name} must be a string or a number")
        values[name] = str(value)
    for key, value in environ.items():
        name = key[len(VAR_PREFIX):]
        if key.startswith(VAR_PREFIX) and re.match(_VAR_NAME, name):
            values[name] = value
    for item in given:
        name, sep, value = item.partition("=")
        if not sep or not re.match(_VAR_NAME, name):
            raise ConfigError(
                f"--var {item.split('=', 1)[0]!r}: expected NAME=VALUE with NAME made of "
                "letters, digits and _ (not starting with a digit)")
        values[name] = value
    return values


def parse_table_name(value: str, source: str) -> tuple[str | None, str]:
    """``name`` or ``schema.name`` (each part plain or double-quoted) → (schema, name).

    Raises:
        ConfigError: anything else (so no text ever reaches SQL unquoted).
    """
    match = _TABLE_NAME.match(value.strip())
    if match is None:
        raise ConfigError(
            f"{source} {value!r} is not a table name",
            hint='use name or schema.name; quote parts with "" for other characters',
        )

    def unquote_ident(part: str) -> str:
        if part.startswith('"'):
            return part[1:-1].replace('""', '"')
        return part.lower()

    schema = match.group("schema")
    return (unquote_ident(schema) if schema else None), unquote_ident(match.group("name"))


def _parse_ssl(value: str | None, source: str) -> bool:
    if value is None or value.strip().lower() in _FALSE:
        return False
    if value.strip().lower() in _TRUE:
        return True
    raise ConfigError(f"DATABASE_SSL (from {source}) must be one of true, 1, yes, false, 0, no")


def _check_url_shape(url: str, source: str) -> None:
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.lower().startswith("postgres"):
        return
    authority = re.split(r"[/?]", rest, maxsplit=1)[0]
    beyond = rest[len(authority):]
    at = authority.rfind("@")
    userinfo = authority[:at] if at >= 0 else ""
    # user:pass without '@' before the first '/' or '?' means the password held one of them
    password_cut = at < 0 and "@" in beyond and any(
        ":" in spec and not spec.startswith("[") and not spec.rsplit(":", 1)[1].isdigit()
        for spec in authority.split(",")
    )
    if any(c in userinfo for c in "@#") or password_cut:
        raise ConfigError(
            f"{source} is malformed: its user/password part contains '@', '/', '#' or '?'",
            hint="percent-encode them in the URL (@ → %40, / → %2F, # → %23, ? → %3F)",
        )


def build_conninfo(
    url: str,
    source: str,
    ssl: bool,
    environ: Mapping[str, str],
    pg_from_dotenv: Mapping[str, str],
) -> tuple[str, tuple[str, ...]]:
    """The conninfo string to connect with, and the secrets it holds (to mask).

    Keys the URL sets always win; then libpq variables from ``.env`` (those of the
    environment libpq reads itself). pgshift's connection defaults are not added here:
    :func:`pgshift.db.connect.with_defaults` adds them at connect time, below all of these.

    Raises:
        ConfigError: the URL cannot be parsed (the message never contains the password).
    """
    from psycopg import conninfo as ci

    _check_url_shape(url, source)
    try:
        params = ci.conninfo_to_dict(url)
    except Exception:  # psycopg raises ProgrammingError; its text may echo the password
        raise ConfigError(
            f"{source} is not a valid PostgreSQL URL or key=value connection string",
            hint="e.g. postgresql://user:password@host:5432/dbname (percent-encode special "
            "characters)",
        ) from None
    secrets = tuple(str(params[k]) for k in ("password",) if params.get(k))
    extra: dict[str, str] = {}
    for env_name, keyword in _PG_ENV.items():
        if env_name in pg_from_dotenv and keyword not in params:
            extra[keyword] = pg_from_dotenv[env_name]
    if ssl and "sslmode" not in params and "sslmode" not in extra:
        env_mode = environ.get("PGSSLMODE", "").lower()
        if env_mode not in _STRONG_SSLMODES:
            extra["sslmode"] = "require"
    if extra.get("password"):
        secrets = (*secrets, extra["password"])
    return ci.make_conninfo(url, **extra), secrets


def _read_dotenv(env_file: str | None, cwd: Path) -> dict[str, str]:
    path = Path(env_file) if env_file else cwd / ".env"
    if env_file and not path.is_absolute():
        path = cwd / path
    if not path.exists():
        if env_file:
            raise ConfigError(f"--env-file {env_file}: no such file")
        return {}
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path, interpolate=False)
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read ({error})") from None
    return {k: v for k, v in values.items() if v is not None}


def read_pyproject(cwd: Path) -> dict[str, Any]:
    """``[tool.pgshift]`` of ``cwd/pyproject.toml`` ({} when absent).

    Raises:
        ConfigError: unreadable file, or an unknown key.
    """
    path = cwd / "pyproject.toml"
    if not path.exists():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read ({error})") from None
    section = data.get("tool", {}).get("pgshift", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.pgshift] must be a table")
    unknown = sorted(set(section) - PYPROJECT_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {', '.join(unknown)} in [tool.pgshift]",
            hint=f"known keys: {', '.join(sorted(PYPROJECT_KEYS))}",
        )
    return dict(section)


# (pattern, replacement) of what redact masks: URL user-info, then password= parameters;
# compiled at the first redact (a plain status never redacts).
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = ()


def _masks() -> tuple[tuple[re.Pattern[str], str], ...]:
    global _MASKS
    if not _MASKS:
        _MASKS = (
            (re.compile(r"(postgres(?:ql)?://[^:/?#@\s]*:)[^\s]*@", re.IGNORECASE), r"\1***@"),
            (re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)", re.IGNORECASE),
             r"\1***"),
        )
    return _MASKS


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with every password shown as ``***``: URL user-info (even malformed),
    ``password=`` parameters, and each known secret in plain or percent-decoded form."""
    for pattern, replacement in _MASKS or _masks():
        text = pattern.sub(replacement, text)
    for secret in secrets:
        for form in {secret, unquote(secret)}:
            if len(form) >= 2:
                text = text.replace(form, "***")
    return text
