#!/bin/sh
# http_prepare.sh -- makes what bench/http_bench.sh needs from a loaded node and the
# population it was loaded from: a bench user (border_guard profile) with a token, and a
# query file of name + date-of-birth searches built from the population's true
# identities (persons.csv, every 7th identity, as bench_core does).
#
# usage: bench/http_prepare.sh NODE_DIR POPULATION_DIR OUT_DIR [MAX_QUERIES]
#   writes OUT_DIR/token (mode 600) and OUT_DIR/queries.jsonl (default 20000 queries)
# then:  bench/http_bench.sh NODE_DIR file:OUT_DIR/token OUT_DIR/queries.jsonl
# IOP_BINARY (default build/interop) is the CLI used to create the user.
set -eu
case "${1:-}" in -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
if [ $# -lt 3 ]; then sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; fi
NODE=$1
POP=$2
OUT=$3
MAXQ=${4:-20000}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${IOP_BINARY:-$HERE/../build/interop}
[ -f "$POP/persons.csv" ] || { echo "http_prepare: $POP/persons.csv: not found" >&2; exit 1; }
mkdir -p "$OUT"

# persons.csv: person_id,identity,surname,given_names,native_name,sex,dob,...
awk -F, -v max="$MAXQ" '
NR == 1 { next }
{ row++ }
(row - 1) % 7 == 0 && $3 != "" && $7 != "" && n < max {
    g = $4; sub(/ .*/, "", g); gsub(/["\\]/, "", g); s = $3; gsub(/["\\]/, "", s)
    printf "{\"surnames\":[\"%s\"],\"given_names\":[\"%s\"],\"dob\":\"%s\"}\n", s, g, $7; n++
}' "$POP/persons.csv" >"$OUT/queries.jsonl"
[ -s "$OUT/queries.jsonl" ] || { echo "http_prepare: no queries from $POP/persons.csv" >&2; exit 1; }

# a fresh user each time (the token is shown once); the name carries the time
USER_NAME=http-bench-$(date +%s)
umask 077
"$BIN" user add "$USER_NAME" --dir "$NODE" --authority "HTTP benchmark" --type border_guard \
    --member-state DEU --profile border_guard >"$OUT/user.out"
TOKEN=$(grep -o 'iop_[0-9a-f]\{16\}_[A-Za-z0-9_-]*' "$OUT/user.out" | head -n 1)
rm -f "$OUT/user.out"
[ -n "$TOKEN" ] || { echo "http_prepare: no token from 'interop user add'" >&2; exit 1; }
printf '%s\n' "$TOKEN" >"$OUT/token"
echo "http_prepare: $(wc -l <"$OUT/queries.jsonl") queries in $OUT/queries.jsonl, token of $USER_NAME in $OUT/token" >&2
