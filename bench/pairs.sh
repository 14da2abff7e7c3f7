#!/usr/bin/env bash
# Interleaved before/after pairs of the orders and flash-sale benches: bench/pairs.sh <tree-A> <tree-B> <rounds>.
# Each tree is a checkout with its own .venv (make install); each run gets a fresh PostgreSQL database, a server
# (2 processes) and a worker on port 19450, then both benches; one JSON line per bench, labelled A or B.
set -u
PORT=19450
run_one() {  # tree label
  local tree=$1 label=$2 db="bench_pairs_$RANDOM"
  local url="postgresql+psycopg://postgres@127.0.0.1:5432/$db"
  psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" >/dev/null
  export OMNIHUB_DATABASE_URL=$url OMNIHUB_SECRET_KEY=bench-pairs-secret-key
  cd "$tree"
  .venv/bin/omnihub migrate >/dev/null 2>&1
  local key; key=$(.venv/bin/omnihub apikey create --role admin 2>/dev/null | tail -1)
  setsid .venv/bin/omnihub serve --port $PORT --workers 2 >/tmp/pairs_serve.log 2>&1 & local spid=$!
  setsid .venv/bin/omnihub worker >/tmp/pairs_worker.log 2>&1 & local wpid=$!
  for i in $(seq 60); do curl -sf http://127.0.0.1:$PORT/healthz >/dev/null 2>&1 && break; sleep 0.5; done
  sleep 6; local o f
  o=$(.venv/bin/python bench/orders.py --url http://127.0.0.1:$PORT --key "$key" --db-url "$url" --orders 1500 --clients 16 --json 2>/dev/null | tail -1)
  f=$(.venv/bin/python bench/flash_sale.py --url http://127.0.0.1:$PORT --key "$key" --db-url "$url" --units 3000 --attempts 10000 --clients 16 --no-ceiling --json 2>/dev/null | tail -1)
  kill -- -$spid -$wpid 2>/dev/null; sleep 2; kill -9 -- -$spid -$wpid 2>/dev/null
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
  echo "$label orders=$o"
  echo "$label flash=$f"
}
for r in $(seq "$3"); do run_one "$1" A; run_one "$2" B; done
