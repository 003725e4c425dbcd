#!/usr/bin/env bash
# make run: a demo node in ./var -- a generated population of about 10,000 persons
# loaded into the connected systems, one demo user per profile, the HTTP API on
# 127.0.0.1:8080.  Re-running reuses the population and the node (delete ./var to start
# over).  Stop the server with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/interop
PERSONS=${DEMO_PERSONS:-10000}
LISTEN=${DEMO_LISTEN:-127.0.0.1:8080}
POP=var/demo-population
NODE=var/node
CREDS=var/demo-credentials.txt
SHARED=${IOP_SHARED_DATA:-$(pwd)/../shared/data}

if [ ! -f "$POP/truth.csv" ]; then
  echo "== generating $PERSONS persons into $POP"
  "$BIN" gen --persons "$PERSONS" --seed 2026 --out "$POP" --data "$SHARED"
fi

if [ ! -f "$NODE/cir.db" ]; then
  echo "== creating the node in $NODE"
  "$BIN" init --dir "$NODE"
  echo "== loading the population"
  "$BIN" load --dir "$NODE" "$POP"/vis.jsonl "$POP"/etias.jsonl "$POP"/ees.jsonl "$POP"/eurodac.jsonl \
    "$POP"/sis.jsonl "$POP"/ecris-tcn.jsonl "$POP"/europol.jsonl "$POP"/interpol.jsonl
  echo "== creating one demo user per profile"
  : > "$CREDS"
  chmod 600 "$CREDS"
  add_user() { # name type member-state profile authority
    local out
    out=$("$BIN" user add "$1" --dir "$NODE" --type "$2" --member-state "$3" --profile "$4" --authority "$5")
    printf '%-22s %-24s %s\n' "$1" "$4" "$(printf '%s\n' "$out" | sed -n 's/^token: //p')" >> "$CREDS"
  }
  add_user demo-border-guard border_guard DEU border_guard "DE Federal Police, Frankfurt Airport"
  add_user demo-visa-officer visa_authority FRA visa_authority "FR Consulate General, Kyiv"
  add_user demo-asylum-officer asylum_authority ITA asylum_authority "IT Ministry of the Interior"
  add_user demo-police police NLD police "NL National Police"
  add_user demo-etias-unit etias_unit EU etias_unit "ETIAS Central Unit (Frontex)"
  add_user demo-sirene sirene_bureau ESP sirene_bureau "ES SIRENE Bureau"
  add_user demo-europol europol EU europol "Europol"
  add_user demo-ecris ecris_central_authority POL ecris_central_authority "PL Ministry of Justice"
  add_user demo-integrator other EU integrator "Test-bed operator"
fi

Q=$(sed -n '3p' "$POP/persons.csv" | awk -F, '{print $3}')
TOKEN=$(awk '$1=="demo-border-guard"{print $3}' "$CREDS")
cat <<TXT

interop demo node: http://$LISTEN
  data directory:   $NODE   (population: $POP, ground truth in $POP/truth.csv)
  demo users and API tokens (one per profile): $CREDS
$(sed 's/^/    /' "$CREDS")

try:
  curl -s http://$LISTEN/health
  curl -s -H "Authorization: Bearer $TOKEN" -d '{"surnames":["$Q"]}' http://$LISTEN/v1/search
  $BIN search --dir $NODE --as demo-border-guard --surname "$Q" --pretty
  $BIN logs verify --dir $NODE

serving until Ctrl-C ...
TXT
exec "$BIN" serve --dir "$NODE" --listen "$LISTEN"
