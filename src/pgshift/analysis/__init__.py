"""What SQL statements do, read from pglast parse trees: transaction needs, locks, lint findings."""
