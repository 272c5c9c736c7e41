# Shared settings for the project's scripts. Sourced, not run.
SLUICE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLUICE_RUN_DIR="${SLUICE_RUN_DIR:-$SLUICE_ROOT/.run}"
SLUICE_CACHE_DIR="${SLUICE_CACHE_DIR:-$SLUICE_ROOT/.cache}"
SLUICE_BUILD_DIR="${SLUICE_BUILD_DIR:-$SLUICE_ROOT/build}"
SLUICE_KAFKA_PORT="${SLUICE_KAFKA_PORT:-19092}"
SLUICE_KAFKA_CONTROLLER_PORT="${SLUICE_KAFKA_CONTROLLER_PORT:-19093}"
SLUICE_PG_PORT="${SLUICE_PG_PORT:-15432}"
SLUICE_KAFKA_BOOTSTRAP="127.0.0.1:${SLUICE_KAFKA_PORT}"
SLUICE_PG_DSN="${SLUICE_PG_DSN:-host=127.0.0.1 port=${SLUICE_PG_PORT} dbname=sluice user=sluice password=sluice}"

log() { printf '%s %s\n' "[$(date +%H:%M:%S)]" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
