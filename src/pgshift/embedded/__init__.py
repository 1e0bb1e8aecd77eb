"""The embedded PostgreSQL server kept under a project's ./.pgshift/ directory."""
