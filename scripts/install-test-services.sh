#!/usr/bin/env bash
# Test set-up step for pgshift's fault-injection tests (tests/faultkit, tests/process).
#
# Installs Debian's `pgbouncer` package when the binary is missing. Needs root and apt-get;
# without them it prints why nothing was installed and exits 0, so the PgBouncer tests skip
# with that reason instead of the set-up failing. Safe to run repeatedly.
#
# Usage: bash scripts/install-test-services.sh
set -u

have_pgbouncer() {
    command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]
}

if have_pgbouncer; then
    echo "install-test-services: pgbouncer already installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-services: not root, cannot install pgbouncer (PgBouncer tests will skip)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-services: apt-get not found, cannot install pgbouncer (PgBouncer tests will skip)"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq pgbouncer; then
    # The Debian package enables a system service on port 6432; the tests start their own
    # pgbouncer processes, so the packaged one is stopped where a service manager runs it.
    if command -v service >/dev/null 2>&1; then
        service pgbouncer stop >/dev/null 2>&1 || true
    fi
    echo "install-test-services: installed $(/usr/sbin/pgbouncer --version 2>/dev/null | head -n 1)"
else
    echo "install-test-services: apt-get could not install pgbouncer (PgBouncer tests will skip)"
fi
exit 0
