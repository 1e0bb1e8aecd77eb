"""Unit tests for pgshift.config: precedence, DATABASE_SSL, embedded choice, table names,
redaction. Pure: ``resolve`` gets its environment as an argument; no database."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

import pytest
from psycopg.conninfo import conninfo_to_dict

from pgshift import config
from pgshift.config import CliValues, Settings
from pgshift.errors import ConfigError

FLAG_URL = "postgresql://flag_user@flag-host:5001/flag_db"
ENV_URL = "postgresql://env_user@env-host:5002/env_db"
DOTENV_URL = "postgresql://dotenv_user@dotenv-host:5003/dotenv_db"


def resolve(cwd: Path, environ: Mapping[str, str] | None = None, **cli: str) -> Settings:
    return config.resolve(CliValues(**cli), dict(environ or {}), cwd)


def params(settings: Settings) -> dict[str, object]:
    assert settings.conninfo is not None
    return dict(conninfo_to_dict(settings.conninfo))


def dotenv(cwd: Path, text: str, name: str = ".env") -> Path:
    path = cwd / name
    path.write_text(text, encoding="utf-8")
    return path


def pyproject(cwd: Path, body: str) -> None:
    (cwd / "pyproject.toml").write_text(f"[tool.pgshift]\n{body}\n", encoding="utf-8")


def runs(secret: str, size: int = 3) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def leaked(secret: str, text: str) -> set[str]:
    return {run for run in runs(secret) if run in text}


# --- the database URL: flag > env > .env > embedded ---------------------------------------


def test_flag_url_beats_environment_and_dotenv(tmp_path: Path) -> None:
    dotenv(tmp_path, f"DATABASE_URL={DOTENV_URL}\n")
    settings = resolve(tmp_path, {"DATABASE_URL": ENV_URL}, database_url=FLAG_URL)
    assert params(settings)["user"] == "flag_user"
    assert settings.url_source == "--database-url"


def test_environment_url_beats_dotenv(tmp_path: Path) -> None:
    dotenv(tmp_path, f"DATABASE_URL={DOTENV_URL}\n")
    settings = resolve(tmp_path, {"DATABASE_URL": ENV_URL})
    assert params(settings)["user"] == "env_user"
    assert "environment" in settings.url_source


def test_dotenv_url_is_used_when_the_environment_has_none(tmp_path: Path) -> None:
    dotenv(tmp_path, f"DATABASE_URL={DOTENV_URL}\n")
    settings = resolve(tmp_path)
    assert params(settings)["host"] == "dotenv-host"
    assert ".env" in settings.url_source


def test_env_file_option_reads_that_file_instead_of_dotenv(tmp_path: Path) -> None:
    dotenv(tmp_path, f"DATABASE_URL={DOTENV_URL}\n")
    dotenv(tmp_path, "DATABASE_URL=postgresql://other@other-host/db\n", name="ci.env")
    settings = resolve(tmp_path, env_file="ci.env")
    assert params(settings)["host"] == "other-host"


def test_env_file_option_accepts_an_absolute_path(tmp_path: Path) -> None:
    path = dotenv(tmp_path, "DATABASE_URL=postgresql://abs@abs-host/db\n", name="abs.env")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert params(resolve(elsewhere, env_file=str(path)))["host"] == "abs-host"


def test_environment_beats_the_env_file_option(tmp_path: Path) -> None:
    dotenv(tmp_path, f"DATABASE_URL={DOTENV_URL}\n", name="ci.env")
    assert params(resolve(tmp_path, {"DATABASE_URL": ENV_URL}, env_file="ci.env"))["user"] == (
        "env_user"
    )


def test_missing_env_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(tmp_path, env_file="missing.env")
    assert "missing.env" in str(caught.value)
    assert caught.value.exit_code == 2


def test_missing_default_dotenv_is_fine(tmp_path: Path) -> None:
    assert params(resolve(tmp_path, {"DATABASE_URL": ENV_URL}))["user"] == "env_user"


def test_key_value_connection_string_is_accepted(tmp_path: Path) -> None:
    settings = resolve(tmp_path, {"DATABASE_URL": "host=kv-host port=5433 dbname=kv user=u"})
    assert params(settings)["host"] == "kv-host"
    assert params(settings)["port"] == "5433"


def test_dotenv_pgpassword_fills_a_url_without_password(tmp_path: Path) -> None:
    dotenv(tmp_path, "PGPASSWORD=from-dotenv\n")
    settings = resolve(tmp_path, {"DATABASE_URL": ENV_URL})
    assert params(settings)["password"] == "from-dotenv"
    assert "from-dotenv" in settings.secrets


def test_url_password_beats_dotenv_pgpassword(tmp_path: Path) -> None:
    dotenv(tmp_path, "PGPASSWORD=from-dotenv\n")
    settings = resolve(tmp_path, {"DATABASE_URL": "postgresql://u:in-url@h/db"})
    assert params(settings)["password"] == "in-url"


def test_environment_pgpassword_beats_dotenv_pgpassword(tmp_path: Path) -> None:
    dotenv(tmp_path, "PGPASSWORD=from-dotenv\n")
    settings = resolve(tmp_path, {"DATABASE_URL": ENV_URL, "PGPASSWORD": "from-env"})
    assert params(settings).get("password") != "from-dotenv"
    assert "from-env" in settings.secrets


def test_connection_defaults_are_left_to_connect_time(tmp_path: Path) -> None:
    # pgshift.db.connect.with_defaults adds them below libpq's environment
    assert "connect_timeout" not in params(resolve(tmp_path, {"DATABASE_URL": ENV_URL}))


def test_connection_defaults_yield_to_the_libpq_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from psycopg.conninfo import conninfo_to_dict

    from pgshift.db.connect import with_defaults

    for name in ("PGAPPNAME", "PGCONNECT_TIMEOUT", "PGSERVICE"):
        monkeypatch.delenv(name, raising=False)
    assert conninfo_to_dict(with_defaults(ENV_URL))["application_name"] == "pgshift"
    assert conninfo_to_dict(with_defaults(ENV_URL))["connect_timeout"] == "10"
    monkeypatch.setenv("PGAPPNAME", "myapp")
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "3")
    added = conninfo_to_dict(with_defaults(ENV_URL))
    assert "application_name" not in added and "connect_timeout" not in added
    assert added["keepalives"] == "1"


def test_url_connect_timeout_wins_over_the_default(tmp_path: Path) -> None:
    url = ENV_URL + "?connect_timeout=3"
    assert params(resolve(tmp_path, {"DATABASE_URL": url}))["connect_timeout"] == "3"


# --- embedded default ---------------------------------------------------------------------


def test_embedded_is_chosen_when_nothing_names_a_server(tmp_path: Path) -> None:
    settings = resolve(tmp_path)
    assert settings.conninfo is None
    assert settings.embedded_dir == tmp_path / ".pgshift"


@pytest.mark.parametrize("variable", ["PGHOST", "PGDATABASE", "PGSERVICE"])
def test_libpq_target_variable_disables_embedded(tmp_path: Path, variable: str) -> None:
    settings = resolve(tmp_path, {variable: "x"})
    assert settings.conninfo is not None


def test_libpq_target_variable_in_dotenv_disables_embedded(tmp_path: Path) -> None:
    dotenv(tmp_path, "PGHOST=db.internal\n")
    settings = resolve(tmp_path)
    assert settings.conninfo is not None
    assert params(settings)["host"] == "db.internal"


@pytest.mark.parametrize("variable", ["PGUSER", "PGPORT", "PGPASSWORD", "PGSSLMODE"])
def test_other_libpq_variables_keep_embedded(tmp_path: Path, variable: str) -> None:
    assert resolve(tmp_path, {variable: "x" if variable != "PGPORT" else "5433"}).conninfo is None


def test_empty_database_url_counts_as_unset(tmp_path: Path) -> None:
    assert resolve(tmp_path, {"DATABASE_URL": ""}).conninfo is None


def test_url_disables_embedded(tmp_path: Path) -> None:
    assert resolve(tmp_path, {"DATABASE_URL": ENV_URL}).conninfo is not None


# --- DATABASE_SSL -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "1", "yes", "TRUE", "Yes"])
def test_database_ssl_true_requires_ssl(tmp_path: Path, value: str) -> None:
    settings = resolve(tmp_path, {"DATABASE_URL": ENV_URL, "DATABASE_SSL": value})
    assert params(settings)["sslmode"] == "require"


@pytest.mark.parametrize("value", ["false", "0", "no", "FALSE"])
def test_database_ssl_false_changes_nothing(tmp_path: Path, value: str) -> None:
    settings = resolve(tmp_path, {"DATABASE_URL": ENV_URL, "DATABASE_SSL": value})
    assert "sslmode" not in params(settings)


def test_database_ssl_unset_changes_nothing(tmp_path: Path) -> None:
    assert "sslmode" not in params(resolve(tmp_path, {"DATABASE_URL": ENV_URL}))


@pytest.mark.parametrize("mode", ["disable", "prefer", "verify-full"])
def test_url_sslmode_wins_over_database_ssl(tmp_path: Path, mode: str) -> None:
    url = f"{ENV_URL}?sslmode={mode}"
    settings = resolve(tmp_path, {"DATABASE_URL": url, "DATABASE_SSL": "true"})
    assert params(settings)["sslmode"] == mode


def test_key_value_sslmode_wins_over_database_ssl(tmp_path: Path) -> None:
    url = "host=h dbname=d sslmode=disable"
    settings = resolve(tmp_path, {"DATABASE_URL": url, "DATABASE_SSL": "1"})
    assert params(settings)["sslmode"] == "disable"


def test_database_ssl_from_dotenv_is_read(tmp_path: Path) -> None:
    dotenv(tmp_path, f"DATABASE_URL={DOTENV_URL}\nDATABASE_SSL=yes\n")
    assert params(resolve(tmp_path))["sslmode"] == "require"


@pytest.mark.parametrize("value", ["maybe", "on", "2", "require", "t"])
def test_other_database_ssl_values_are_a_config_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(tmp_path, {"DATABASE_URL": ENV_URL, "DATABASE_SSL": value})
    assert "DATABASE_SSL" in str(caught.value)
    assert caught.value.exit_code == 2


# --- dir and table: flag > [tool.pgshift] > default ---------------------------------------


def test_default_dir_is_migrations_under_cwd(tmp_path: Path) -> None:
    assert resolve(tmp_path, {"DATABASE_URL": ENV_URL}).directory == tmp_path / "migrations"


def test_pyproject_dir_beats_the_default(tmp_path: Path) -> None:
    pyproject(tmp_path, 'dir = "db/migrations"')
    assert resolve(tmp_path).directory == tmp_path / "db" / "migrations"


def test_dir_flag_beats_pyproject(tmp_path: Path) -> None:
    pyproject(tmp_path, 'dir = "db/migrations"')
    assert resolve(tmp_path, directory="sql").directory == tmp_path / "sql"


def test_absolute_dir_flag_is_kept(tmp_path: Path) -> None:
    other = tmp_path / "abs"
    assert resolve(tmp_path, directory=str(other)).directory == other


def test_default_table_is_migrations(tmp_path: Path) -> None:
    settings = resolve(tmp_path)
    assert (settings.table_schema, settings.table_name) == (None, "_migrations")


def test_pyproject_table_beats_the_default(tmp_path: Path) -> None:
    pyproject(tmp_path, 'table = "app.schema_migrations"')
    settings = resolve(tmp_path)
    assert (settings.table_schema, settings.table_name) == ("app", "schema_migrations")


def test_table_flag_beats_pyproject(tmp_path: Path) -> None:
    pyproject(tmp_path, 'table = "app.schema_migrations"')
    settings = resolve(tmp_path, table="mine")
    assert (settings.table_schema, settings.table_name) == (None, "mine")


def test_blank_table_flag_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        resolve(tmp_path, table="  ")


def test_empty_table_flag_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        resolve(tmp_path, table="")


def test_bad_table_in_pyproject_is_a_config_error(tmp_path: Path) -> None:
    pyproject(tmp_path, 'table = "x; DROP TABLE users"')
    with pytest.raises(ConfigError):
        resolve(tmp_path)


def test_unknown_pyproject_key_is_a_config_error(tmp_path: Path) -> None:
    pyproject(tmp_path, 'directory = "x"')
    with pytest.raises(ConfigError) as caught:
        resolve(tmp_path)
    assert "directory" in str(caught.value)


def test_unreadable_pyproject_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pgshift\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        resolve(tmp_path)


def test_pyproject_without_pgshift_section_is_fine(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    assert resolve(tmp_path).directory == tmp_path / "migrations"


# --- table names (S39) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("_migrations", (None, "_migrations")),
        ("schema_migrations", (None, "schema_migrations")),
        ("app.schema_migrations", ("app", "schema_migrations")),
        ('"a"."b"', ("a", "b")),
        ('"My Table"', (None, "My Table")),
        ("Mixed", (None, "mixed")),
        ('"Mixed"', (None, "Mixed")),
        ('public."we""ird"', ("public", 'we"ird')),
        ('app."x; DROP TABLE users; --"', ("app", "x; DROP TABLE users; --")),
        ("t$1", (None, "t$1")),
    ],
)
def test_table_names_are_parsed_like_sql_identifiers(
    value: str, expected: tuple[str | None, str]
) -> None:
    assert config.parse_table_name(value, "--table") == expected


@pytest.mark.parametrize(
    "value",
    [
        "x; DROP TABLE users; --",
        "users; --",
        "a.b.c",
        "",
        "1abc",
        "a b",
        '"unterminated',
        '""',
        "a.",
        ".a",
        "a-b",
        "a'b",
        "tab(le)",
    ],
)
def test_anything_else_is_refused_as_a_table_name(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.parse_table_name(value, "--table")
    assert "--table" in str(caught.value)
    assert caught.value.exit_code == 2


# --- malformed URLs (S42) -----------------------------------------------------------------

MALFORMED_PASSWORD = "Kq7@Zx#w2"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://app:{MALFORMED_PASSWORD}@db.example.com:5432/app",
        "postgresql://app:Kq7@Zxw2@db.example.com/app",
        "postgresql://app:Kq7Zx#w2@db.example.com/app",
        "postgres://app:Kq7/Zx@w2@db.example.com/app",
    ],
)
def test_malformed_url_is_a_config_error_without_the_password(tmp_path: Path, url: str) -> None:
    password = url.split("app:", 1)[1].rsplit("@", 1)[0]
    with pytest.raises(ConfigError) as caught:
        resolve(tmp_path, {"DATABASE_URL": url})
    shown = f"{caught.value} {caught.value.hint or ''}"
    assert leaked(password, shown) == set()
    assert caught.value.exit_code == 2


def test_at_sign_in_a_query_parameter_is_accepted(tmp_path: Path) -> None:
    url = "postgresql://app@h/db?application_name=a/b@c"
    assert params(resolve(tmp_path, {"DATABASE_URL": url}))["application_name"] == "a/b@c"


def test_at_sign_in_the_database_name_is_accepted(tmp_path: Path) -> None:
    assert params(resolve(tmp_path, {"DATABASE_URL": "postgresql://app@h/my@db"}))["dbname"] == (
        "my@db"
    )


def test_malformed_flag_url_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(tmp_path, database_url=f"postgresql://app:{MALFORMED_PASSWORD}@h/db")
    assert "--database-url" in str(caught.value)


def test_malformed_dotenv_url_is_a_config_error_without_the_password(tmp_path: Path) -> None:
    dotenv(tmp_path, f"DATABASE_URL=postgresql://app:{MALFORMED_PASSWORD}@h/db\n")
    with pytest.raises(ConfigError) as caught:
        resolve(tmp_path)
    assert leaked(MALFORMED_PASSWORD, f"{caught.value} {caught.value.hint}") == set()


def test_unparsable_key_value_string_is_a_config_error_without_the_password(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve(tmp_path, {"DATABASE_URL": "host=h password='Qv8mWz3"})
    assert leaked("Qv8mWz3", f"{caught.value} {caught.value.hint}") == set()


def test_percent_encoded_password_is_decoded_and_kept_secret(tmp_path: Path) -> None:
    password = "p@ss:w/rd%2Fx#1"
    url = f"postgresql://app:{quote(password, safe='')}@h:5432/db"
    settings = resolve(tmp_path, {"DATABASE_URL": url})
    assert params(settings)["password"] == password
    assert password in settings.secrets


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app@h/db?password=Zr5tQw9",
        "host=h dbname=db user=app password=Zr5tQw9",
        "host=h dbname=db user=app password='Zr5tQw9'",
    ],
)
def test_password_in_query_or_key_value_form_is_a_secret(tmp_path: Path, url: str) -> None:
    assert "Zr5tQw9" in resolve(tmp_path, {"DATABASE_URL": url}).secrets


# --- redact -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("could not connect to postgresql://app:Zr5tQw9@h:5432/db", "Zr5tQw9"),
        ("postgres://app:Zr5tQw9@h/db", "Zr5tQw9"),
        ("POSTGRESQL://app:Zr5tQw9@h/db", "Zr5tQw9"),
        ("url postgresql://:Zr5tQw9@h/db here", "Zr5tQw9"),
        ("postgresql://app:p%40ss%3Aw%2Frd%252Fx%231@h/db", "p%40ss%3Aw%2Frd%252Fx%231"),
        ("postgresql://app:Kq7@Zx#w2@db.example.com:5432/app", "Kq7@Zx#w2"),
        ("postgresql://app:Kq7/Zx@w2@h/app and more", "Kq7/Zx@w2"),
        ("postgresql://app@h/db?password=Zr5tQw9", "Zr5tQw9"),
        ("postgresql://app@h/db?sslmode=require&password=Zr5tQw9&x=1", "Zr5tQw9"),
        ("host=h password=Zr5tQw9 user=app", "Zr5tQw9"),
        ("host=h password='Zr 5tQw9' user=app", "Zr 5tQw9"),
        ("host=h password = 'Zr5t\\'Qw9' user=app", "Zr5t\\'Qw9"),
        ("host=h PASSWORD=Zr5tQw9", "Zr5tQw9"),
    ],
)
def test_redact_masks_passwords_in_urls_and_connection_strings(text: str, secret: str) -> None:
    shown = config.redact(text)
    assert "***" in shown
    assert leaked(secret, shown) == set()


def test_redact_keeps_user_host_port_and_database() -> None:
    shown = config.redact("could not connect to postgresql://app:Zr5tQw9@db.example.com:5432/prod")
    assert shown == "could not connect to postgresql://app:***@db.example.com:5432/prod"


def test_redact_masks_every_url_in_the_text() -> None:
    shown = config.redact("postgresql://a:Zr5tQw9@h1/d and\npostgresql://b:Yp4sNm8@h2/d")
    assert "Zr5tQw9" not in shown
    assert "Yp4sNm8" not in shown
    assert "@h1/d" in shown
    assert "@h2/d" in shown


def test_redact_leaves_urls_without_password_alone() -> None:
    text = "postgresql://app@h:5432/db"
    assert config.redact(text) == text


def test_redact_masks_known_secrets_anywhere() -> None:
    shown = config.redact("FATAL: role says Zr5tQw9 is wrong", ("Zr5tQw9",))
    assert "Zr5tQw9" not in shown


def test_redact_masks_the_decoded_form_of_a_percent_encoded_secret() -> None:
    shown = config.redact("got p@ss:w/rd#1 back", ("p%40ss%3Aw%2Frd%231",))
    assert leaked("p@ss:w/rd#1", shown) == set()


def test_redact_masks_a_secret_with_percent_sequences_in_both_forms() -> None:
    secret = "p@ss:w/rd%2Fx#1"
    shown = config.redact(f"one {secret} two p@ss:w/rd/x#1", (secret,))
    assert leaked(secret, shown) == set()
    assert leaked("p@ss:w/rd/x#1", shown) == set()


def test_redact_leaves_text_without_secrets_unchanged() -> None:
    text = 'relation "users" does not exist; password authentication failed for user "app"'
    assert config.redact(text, ("Zr5tQw9",)) == text
