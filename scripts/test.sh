#!/usr/bin/env bash
# Runs every check Herald's CI runs: formatting, clippy, unit and integration tests against real PostgreSQL,
# Redis and SQLite, and the Explorer's tests in chromium. Starts (or installs) PostgreSQL, Redis, Node and chromium
# when they are missing, so that on a fresh machine this one command is all the set-up there is. Extra arguments
# go to the test runner.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/herald-target}"
export HERALD_TEST_PG_URL="${HERALD_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432}"
export HERALD_TEST_REDIS_URL="${HERALD_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

say() { printf '==> %s\n' "$*"; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  say "installing $*"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return; fi
  local installed=no
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt_install postgresql
    installed=yes
  fi
  say "starting PostgreSQL"
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if [ "$installed" = yes ]; then
    # A cluster we just installed for the tests: let local test connections in without a password.
    as_root sed -i '1i host all all 127.0.0.1/32 trust' "/etc/postgresql/$version/main/pg_hba.conf"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && return; sleep 0.2; done
  echo "PostgreSQL did not start on 127.0.0.1:5432" >&2
  exit 1
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return; fi
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  say "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return; sleep 0.2; done
  echo "Redis did not start on 127.0.0.1:6379" >&2
  exit 1
}

clean_leftovers() {
  # Databases and stream keys of earlier runs (each test makes its own); never anything else.
  psql "$HERALD_TEST_PG_URL/postgres" -Atqc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'herald\_test\_%' OR datname LIKE 'herald\_bench\_%'" 2>/dev/null |
    while read -r db; do psql "$HERALD_TEST_PG_URL/postgres" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true; done
  redis-cli -h 127.0.0.1 -p 6379 --scan --pattern 'herald:test:*' 2>/dev/null |
    xargs -r -n 500 redis-cli -h 127.0.0.1 -p 6379 del >/dev/null 2>&1 || true
}

ensure_browser() {
  # The Explorer's browser tests: Node runs them, Playwright's library (from the npm registry, pinned by
  # tests/explorer/package-lock.json) drives Debian's chromium. No tool downloads a browser of its own.
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  command -v chromium >/dev/null 2>&1 || apt_install chromium
  local stamp=tests/explorer/node_modules/.package-lock.json
  if [ ! -f "$stamp" ] || [ tests/explorer/package-lock.json -nt "$stamp" ]; then
    say "npm ci (tests/explorer)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/explorer --no-audit --no-fund --loglevel=error
  fi
}

ensure_postgres
ensure_redis
ensure_browser
clean_leftovers

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  say "cargo nextest run"
  cargo nextest run --workspace --no-fail-fast "$@"
  say "cargo test --doc (the SDK's examples, which the README repeats)"
  cargo test --doc -p herald-client -p herald-core --quiet
else
  say "cargo test"
  cargo test --workspace --no-fail-fast "$@"
fi
