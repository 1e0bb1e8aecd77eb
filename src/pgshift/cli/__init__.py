"""The pgshift command-line program: a thin layer over the library."""
