"""Migration files without a database: the directory, a file's header, its sections and
statements."""
