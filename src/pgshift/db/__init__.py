"""Talking to PostgreSQL: connections, the tracking table, the lock, running a section of SQL."""
