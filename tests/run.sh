#!/usr/bin/env bash
# The test command of the README, also what CI runs (.ci/run calls this file).
# It installs everything the tests need on a fresh machine (Python 3.11 + pip), fetches the real model assets,
# starts a throwaway PostgreSQL server on loopback, runs the whole suite, and stops the server even on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# Whatever python comes first on PATH (.ci/run puts a fresh venv's there).
echo "tests/run.sh: installing the project and its test extras into $(command -v python)" >&2
python -m pip install -q --disable-pip-version-check -e ".[test,torch]"

# Debian packages: a PostgreSQL server for the scale-out tests, Chromium to render the HTML report,
# iproute2 for the two-host test (network namespaces).
missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v chromium >/dev/null || missing+=(chromium)
command -v ip >/dev/null || missing+=(iproute2)          # network namespaces: the two-host test
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "tests/run.sh: need Debian packages ${missing[*]}; run as root or install them" >&2
        exit 2
    fi
    echo "tests/run.sh: installing Debian packages ${missing[*]} with apt-get (a few minutes, once)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    echo "tests/run.sh: installed ${missing[*]}" >&2
fi

# Real model weights, K/V and text (idempotent; cached after the first run).
echo "tests/run.sh: fetching the model assets (cached after the first run)" >&2
python -m dse assets fetch

# A throwaway PostgreSQL cluster on loopback, stopped on exit whatever happens.
# shellcheck source=tests/pg_server.sh
source tests/pg_server.sh
pg_start
trap pg_stop EXIT

set +e
python -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
exit "$status"
