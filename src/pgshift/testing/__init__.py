"""Testing applications that use pgshift: the pytest plugin and its servers."""
