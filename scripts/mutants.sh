#!/usr/bin/env bash
# Mutation testing of flexform's core: would the tests notice a broken planner, retry policy,
# journal or state store? Runs cargo-mutants (installed if missing) in two phases and exits
# non-zero if any mutant was missed or timed out. Equivalent mutants (that cannot change
# behaviour) are excluded, each with its reason, in .cargo/mutants.toml. See CONTRIBUTING.md.
#
#   scripts/mutants.sh          both phases (about 60 minutes on 2 cores)
#   scripts/mutants.sh core     phase 1 only (about 40 minutes)
#   scripts/mutants.sh stores   phase 2 only (about 25 minutes; starts a PostgreSQL)
set -uo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null 2>&1 || cargo install --locked cargo-mutants
# A test whose component is missing fails instead of passing as skipped (tests/it/common).
export CI="${CI:-true}" CARGO_TERM_COLOR=never
out=target/mutants
phase=${1:-all}
status=0
mkdir -p "$out"  # cargo-mutants creates the output folder but not its parent

if [ "$phase" = all ] || [ "$phase" = core ]; then
    # 1. The pure core, decided by the unit tests: the planner (and its configuration pass),
    #    the configuration paths and merge, the retry policy, the journal and the state model
    #    (updates, content digest).
    cargo mutants --no-shuffle -o "$out/core" --features failpoints --cargo-arg=--lib \
        -f src/plan/decide.rs -f src/plan/configure.rs -f src/plan/release.rs -f src/config/flex.rs \
        -f src/client/retry.rs -f src/state/journal.rs -f src/state/model.rs \
        || status=1
fi

if [ "$phase" = all ] || [ "$phase" = stores ]; then
    # 2. The stores' write paths: the local file's commit and fold, and PostgreSQL's
    #    compare-and-swap, decided by the unit tests (a real file system, the failpoints
    #    compiled in) and the `postgres` module of the integration tests, which drives a real
    #    PostgreSQL. The filters after `-- --` reach both test binaries: `::tests::` keeps every
    #    unit test (each lives in a `tests` module), `postgres::` adds that module, and the
    #    skip keeps out the trail's PostgreSQL cases (`trail::postgres::`), which this phase
    #    never ran.
    # shellcheck source=components.sh
    source scripts/components.sh
    [ -n "${FLEXFORM_TEST_DATABASE_URL:-}" ] || start_postgres
    cargo mutants --no-shuffle -o "$out/stores" --features failpoints \
        --cargo-arg=--lib --cargo-arg=--test=it \
        -f src/state/local.rs -f src/state/postgres.rs \
        --re 'LocalStore::(commit|fold|finish|write_file|replace)|PgStore::(commit|write|finish|replace|record)' \
        -- -- ::tests:: postgres:: --skip trail::postgres:: \
        || status=1
fi

for dir in "$out"/core "$out"/stores; do
    [ -d "$dir/mutants.out" ] || continue
    echo "== $dir: $(wc -l <"$dir/mutants.out/caught.txt") caught, $(wc -l <"$dir/mutants.out/missed.txt") missed, $(wc -l <"$dir/mutants.out/timeout.txt") timeouts, $(wc -l <"$dir/mutants.out/unviable.txt") unviable"
    cat "$dir/mutants.out/missed.txt" "$dir/mutants.out/timeout.txt"
done
exit $status
