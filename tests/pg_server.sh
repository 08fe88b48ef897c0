#!/usr/bin/env bash
# Start and stop a throwaway PostgreSQL server for the tests (sourced by tests/run.sh).
# Exports MANT_DSE_TEST_PG_URL; the data folder is a fresh temporary directory, removed by pg_stop.

pg_start() {
    local bindir
    bindir=$(dirname "$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1)")
    PG_DIR=$(mktemp -d)
    PG_PORT=${MANT_DSE_TEST_PG_PORT:-$((20000 + RANDOM % 20000))}
    local run=()
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres "$PG_DIR"
        run=(runuser -u postgres --)
    fi
    # run from / so that the postgres user is not asked to enter the caller's folder
    (cd / && "${run[@]}" "$bindir/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null)
    (cd / && "${run[@]}" "$bindir/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=200 -c fsync=off" \
        start >/dev/null)
    export MANT_DSE_TEST_PG_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
    PG_BINDIR=$bindir
    PG_RUN=("${run[@]}")
    echo "tests: PostgreSQL on 127.0.0.1:$PG_PORT (data $PG_DIR)"
}

pg_stop() {
    if [[ -n "${PG_DIR:-}" && -d "$PG_DIR/data" ]]; then
        (cd / && "${PG_RUN[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m immediate stop \
            >/dev/null 2>&1) || true
        rm -rf "$PG_DIR"
        echo "tests: PostgreSQL stopped"
    fi
}
