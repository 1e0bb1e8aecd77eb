"""Command-line tests: exit codes, streams, JSON, help, secrets (real database)."""
