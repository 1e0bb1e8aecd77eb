"""Migration files without a database: the directory, a file's header, its sections and
statements."""

# The format of the checksums pgshift records (of a file's UP section as written).
CHECKSUM_TAG = "sha256v1"
