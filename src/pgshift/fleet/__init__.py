"""Fleet: one migrations directory run against many schemas and databases (SPEC §8).

:class:`~pgshift.fleet.fleet.Fleet` (also ``pgshift.Fleet``) runs ``migrate``, ``status``,
``rollback`` and ``plan`` over :class:`~pgshift.fleet.targets.Target` values and returns a
:class:`~pgshift.fleet.results.FleetResult`; :mod:`pgshift.fleet.targets` finds targets
(schemas of a database, a TOML targets file) and selects them (``--only``, ``--exclude``,
``--shard``). Above the engine: it runs each target through a ``Migrator``; only the CLI
imports it.
"""
