"""pgshift's fault-injection test kit: throw-away clusters, a fault-injecting TCP proxy, PgBouncer.

- :class:`Cluster` (``cluster.py``): initdb/start/stop/restart a PostgreSQL cluster owned by one
  test, optionally with SCRAM auth, TLS, extra settings, or as a streaming hot standby.
- :class:`FaultProxy` (``proxy.py``): TCP proxy with pass / blackhole / reset modes and the
  "ambiguous commit" cut.
- :class:`PgBouncer` (``pgbouncer.py``): a PgBouncer process in front of a server;
  :func:`pgbouncer_unavailable` gives the reason to skip when it cannot run.

Set-up: ``bash scripts/install-test-services.sh`` (as root) installs Debian's pgbouncer.
"""

from __future__ import annotations

from .cluster import (
    DEFAULT_PASSWORD,
    Cluster,
    ClusterError,
    free_port,
    matching_bin_dir,
    pg_bin_dir,
    ssl_unavailable,
)
from .pgbouncer import PgBouncer
from .pgbouncer import available as pgbouncer_unavailable
from .proxy import FaultProxy, ProxyStats, simple_query

__all__ = [
    "DEFAULT_PASSWORD",
    "Cluster",
    "ClusterError",
    "FaultProxy",
    "PgBouncer",
    "ProxyStats",
    "free_port",
    "matching_bin_dir",
    "pg_bin_dir",
    "pgbouncer_unavailable",
    "simple_query",
    "ssl_unavailable",
]
