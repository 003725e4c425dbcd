#!/bin/sh
# http_bench.sh -- searches over HTTP under concurrent load: starts `interop serve` on a
# loopback port over DIR, runs wrk (bench/http_search.lua) posting the searches of
# QUERY_FILE with TOKEN, and prints the median over the rounds of searches/s and p99
# latency with their ratio to the core issue's target (>= 5,000 searches/s with
# p99 <= 20 ms at 1,000,000 persons, 2 cores).
#
# usage: bench/http_bench.sh DIR TOKEN QUERY_FILE [options]
#   DIR          a loaded node (e.g. the one bench_core builds: var/bench/node-1000000)
#   TOKEN        a bearer token (file:PATH reads it from the first line of PATH)
#   QUERY_FILE   one search request JSON per line (bench/http_prepare.sh writes one)
# options (environment):
#   IOP_BINARY=build/interop  HTTP_CONNECTIONS=64  HTTP_WRK_THREADS=2  HTTP_SERVER_THREADS=2
#   HTTP_DURATION=10 (s per round)  HTTP_ROUNDS=3  HTTP_PROFILE=(the user's only profile)
#   HTTP_PORT=0 (free port)  HTTP_SEARCH_THREADS  HTTP_SERVE_ARGS (more `interop serve` options)
#   IOP_BENCH_SCALE=small: 1 round of 3 s
# Loopback (127.0.0.1) only.
set -eu

case "${1:-}" in -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
if [ $# -lt 3 ]; then
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
DIR=$1
TOKEN=$2
QUERIES=$3
case "$TOKEN" in file:*) TOKEN=$(head -n 1 "${TOKEN#file:}") ;; esac

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${IOP_BINARY:-$HERE/../build/interop}
CONNS=${HTTP_CONNECTIONS:-64}
WTHREADS=${HTTP_WRK_THREADS:-2}
STHREADS=${HTTP_SERVER_THREADS:-2}
DURATION=${HTTP_DURATION:-10}
ROUNDS=${HTTP_ROUNDS:-3}
PROFILE=${HTTP_PROFILE:-}
PORT=${HTTP_PORT:-0}
if [ "${IOP_BENCH_SCALE:-}" = "small" ]; then DURATION=${HTTP_DURATION:-3}; ROUNDS=${HTTP_ROUNDS:-1}; fi

command -v wrk >/dev/null 2>&1 || { echo "http_bench: wrk is not installed (Debian package wrk)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "http_bench: $BIN not built" >&2; exit 1; }
[ -d "$DIR" ] || { echo "http_bench: $DIR: no such data directory" >&2; exit 1; }
[ -s "$QUERIES" ] || { echo "http_bench: $QUERIES: missing or empty query file" >&2; exit 1; }

TMP=$(mktemp -d)
LOG=$TMP/serve.log
"$BIN" serve --dir "$DIR" --listen "127.0.0.1:$PORT" --threads "$STHREADS" ${HTTP_SEARCH_THREADS:+--search-threads "$HTTP_SEARCH_THREADS"} ${HTTP_SERVE_ARGS:-} 2>"$LOG" &
SPID=$!
cleanup() {
    if kill -0 "$SPID" 2>/dev/null; then kill -TERM "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# the server prints its URL once it listens
URL=
i=0
while [ $i -lt 600 ]; do
    URL=$(sed -n 's|^interop serve: \(http://127\.0\.0\.1:[0-9]*/\).*|\1|p' "$LOG" | head -n 1)
    [ -n "$URL" ] && break
    kill -0 "$SPID" 2>/dev/null || { cat "$LOG" >&2; echo "http_bench: the server did not start" >&2; exit 1; }
    sleep 0.1
    i=$((i + 1))
done
[ -n "$URL" ] || { echo "http_bench: the server did not report its address" >&2; exit 1; }
URL=${URL%/}

# one request to check the token and profile before loading the server
CHECK=$(head -n 1 "$QUERIES")
if command -v curl >/dev/null 2>&1; then
    CODE=$(curl -s -o "$TMP/check.json" -w '%{http_code}' -X POST "$URL/v1/search" \
        -H "Authorization: Bearer $TOKEN" ${PROFILE:+-H "X-Interop-Profile: $PROFILE"} \
        -H 'Content-Type: application/json' --data-binary "$CHECK")
    if [ "$CODE" != 200 ]; then
        echo "http_bench: a test search failed with HTTP $CODE:" >&2
        cat "$TMP/check.json" >&2
        echo >&2
        exit 1
    fi
fi

echo "http_bench: $URL, $(wc -l <"$QUERIES") queries, $CONNS connections, wrk threads $WTHREADS," \
     "server threads $STHREADS, $ROUNDS round(s) of ${DURATION}s" >&2
# warm-up: page cache and store readers
wrk -t "$WTHREADS" -c "$CONNS" -d 2s -s "$HERE/http_search.lua" "$URL" -- "$QUERIES" "$TOKEN" "$PROFILE" \
    >/dev/null 2>&1 || true
r=0
: >"$TMP/results"
# the server's CPU time (user + system, clock ticks) from /proc, to give CPU per search
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SPID/stat" 2>/dev/null || echo 0; }
TICKS=$(getconf CLK_TCK 2>/dev/null || echo 100)
while [ $r -lt "$ROUNDS" ]; do
    c0=$(cpu_ticks)
    wrk -t "$WTHREADS" -c "$CONNS" -d "${DURATION}s" --latency -s "$HERE/http_search.lua" "$URL" \
        -- "$QUERIES" "$TOKEN" "$PROFILE" >"$TMP/wrk.out" 2>&1 || { cat "$TMP/wrk.out" >&2; exit 1; }
    c1=$(cpu_ticks)
    grep '^RESULT' "$TMP/wrk.out" | sed "s/\$/ server_cpu_s=$(awk -v a="$c0" -v b="$c1" -v t="$TICKS" 'BEGIN { printf "%.2f", (b - a) / t }')/" |
        tee -a "$TMP/results" | sed 's/^RESULT/  round:/' >&2
    r=$((r + 1))
done

# medians over the rounds, ratios to the targets
awk '
function val(k,   i, kv) { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] + 0 } return 0 }
function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ n++; rps[n] = val("rps"); p50[n] = val("p50_ms"); p99[n] = val("p99_ms");
  cpu[n] = val("requests") ? 1e6 * val("server_cpu_s") / val("requests") : 0;
  err += val("connect_err") + val("read_err") + val("write_err") + val("timeout"); bad += val("non2xx") }
END {
    if (!n) { print "http_bench: no results"; exit 1 }
    mr = median(rps, n); m50 = median(p50, n); m99 = median(p99, n); mc = median(cpu, n)
    printf "http search (wrk, %d rounds, median): %.0f searches/s (target >= 5000, ratio %.2f), " \
           "p50 %.2f ms, p99 %.2f ms (target <= 20 ms, ratio %.2f); socket errors %d, non-2xx %d\n",
           n, mr, mr / 5000, m50, m99, m99 / 20, err, bad
    printf "  server CPU time: %.0f us per search (user+sys, all threads; median over the rounds)\n", mc
    if (bad > 0) exit 1
}' "$TMP/results"
