#!/usr/bin/env bash
# The production layout without Docker: what the Dockerfile's runtime stage holds (dist/, production
# dependencies only, installed without scripts; prisma/migrations; data/; package.json), in a folder of
# its own, then what deploy/compose.yaml does with it: a fresh PostgreSQL database migrated by the
# one-shot job, a private redis-server, two API nodes with NODE_ENV=production. Checks: the Dockerfile's
# HEALTHCHECK passes, /ready is 200 on both, a query answers, a priceTicks subscription on one node gets
# the demo market's ticks from whichever node leads ingestion, SIGTERM stops both cleanly.
# Needs: the build (npm run build), PostgreSQL at $ADMIN_URL, redis-server, openssl, curl.
# Usage: bash test/production/layout.sh        (CI runs it; about a minute)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ADMIN_URL=${ADMIN_URL:-postgresql://root@127.0.0.1:5432/postgres}

fail() { echo "production layout: FAIL: $*" >&2; exit 1; }
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

[ -f dist/src/main.js ] || fail "dist/src/main.js is missing: run npm run build first"

work=$(mktemp -d /tmp/gpubroker-layout.XXXXXX)
db="gpubroker_layout_$(date +%s)_$$"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "--- the image's /app: dist, production dependencies (as the Dockerfile's prod-deps stage), migrations, data"
mkdir -p "$work/app/prisma"
cp -r package.json package-lock.json dist data "$work/app/"
cp -r prisma/migrations "$work/app/prisma/"
rm -f "$work/app/dist/.tsbuildinfo"
(cd "$work/app" && npm pkg delete devDependencies && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
for dev in typescript tsx vitest prisma @graphql-codegen/cli effect; do
  [ ! -e "$work/app/node_modules/$dev" ] || fail "dev dependency $dev is in the production install"
done
# Every installed package at the version package-lock.json pins
node -e '
  const [ours, locked] = process.argv.slice(1).map((f) => JSON.parse(require("fs").readFileSync(f, "utf8")).packages);
  const off = Object.entries(ours).filter(([k, v]) => k && locked[k]?.version !== v.version).map(([k, v]) => `${k} ${v.version} (locked: ${locked[k]?.version})`);
  if (off.length) { console.error(off.join("\n")); process.exit(1); }
' "$work/app/package-lock.json" package-lock.json || fail "the production install differs from package-lock.json"
echo "node_modules $(du -sm "$work/app/node_modules" | cut -f1) MB, dist $(du -sm "$work/app/dist" | cut -f1) MB, data $(du -sm "$work/app/data" | cut -f1) MB, in all $(du -sm "$work/app" | cut -f1) MB"

echo "--- one-shot migration (node dist/scripts/migrate.js), twice: the second finds nothing to do"
psql "$ADMIN_URL" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE \"$db\""
url="postgresql://root@127.0.0.1:5432/$db"
(cd "$work/app" && DATABASE_URL=$url node dist/scripts/migrate.js) | tee "$work/migrate.log"
grep -q "applied" "$work/migrate.log" || fail "the first migration run applied nothing"
(cd "$work/app" && DATABASE_URL=$url node dist/scripts/migrate.js) | grep -q "up to date" || fail "the second migration run was not a no-op"

echo "--- redis-server and two API nodes (NODE_ENV=production, node dist/src/main.js)"
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$work/redis.log" 2>&1 &
pids+=($!)
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/jwt.pem" 2>/dev/null
openssl pkey -in "$work/jwt.pem" -pubout -out "$work/jwt.pub" 2>/dev/null
ports=()
for n in 1 2; do
  port=$(free_port)
  ports+=("$port")
  (cd "$work/app" && exec env -i PATH="$PATH" HOME="$work" NODE_ENV=production PORT="$port" HOST=127.0.0.1 DATABASE_URL="$url" \
    REDIS_URL="redis://127.0.0.1:$redis_port" JWT_PRIVATE_KEY="$(cat "$work/jwt.pem")" JWT_PUBLIC_KEY="$(cat "$work/jwt.pub")" \
    DEMO_MARKET=true DEMO_MARKET_INTERVAL_SECONDS=1 LOG_FORMAT=json \
    node --enable-source-maps dist/src/main.js >"$work/node$n.log" 2>&1) &
  pids+=($!)
done
node_pids=("${pids[@]:1}")

for port in "${ports[@]}"; do
  ok=""
  for _ in $(seq 1 60); do
    # The Dockerfile's HEALTHCHECK, verbatim
    if PORT=$port node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then ok=1; break; fi
    sleep 1
  done
  [ -n "$ok" ] || { tail -n 20 "$work"/node*.log >&2; fail "node on port $port never became ready"; }
done
curl -fsS "http://127.0.0.1:${ports[0]}/ready"; echo

echo "--- a query on node 1"
answer=$(curl -fsS "http://127.0.0.1:${ports[0]}/graphql" -H 'content-type: application/json' \
  -d '{"query":"{ offers(first: 3, orderBy: { field: PRICE_PER_GPU }) { totalCount edges { node { provider { name } instanceType pricePerGpuHour } } } }"}')
echo "$answer" | head -c 400; echo
echo "$answer" | node -e 'const a=JSON.parse(require("fs").readFileSync(0,"utf8")); if (a.errors || !(a.data.offers.totalCount > 0) || a.data.offers.edges.length !== 3) process.exit(1)' \
  || fail "the offers query did not answer 3 offers without errors"

echo "--- a priceTicks subscription (SSE) on node 2: ticks from the demo market, whichever node leads"
curl -sS -N --max-time 20 "http://127.0.0.1:${ports[1]}/graphql" -H 'content-type: application/json' -H 'accept: text/event-stream' \
  -d '{"query":"subscription { priceTicks { offerId pricePerGpuHour cursor } }"}' >"$work/ticks.txt" 2>/dev/null &
sse=$!
for _ in $(seq 1 20); do
  [ "$(grep -c '"priceTicks"' "$work/ticks.txt" 2>/dev/null || true)" -ge 3 ] && break
  sleep 1
done
kill "$sse" 2>/dev/null || true
ticks=$(grep -c '"priceTicks"' "$work/ticks.txt" || true)
[ "$ticks" -ge 3 ] || { head -c 600 "$work/ticks.txt" >&2; fail "expected at least 3 price ticks over SSE, got $ticks"; }
grep -m1 '"priceTicks"' "$work/ticks.txt" | head -c 300; echo
echo "$ticks events received"

echo "--- SIGTERM: both nodes stop by themselves, exit code 0"
for pid in "${node_pids[@]}"; do kill -TERM "$pid"; done
for pid in "${node_pids[@]}"; do
  code=0
  wait "$pid" || code=$?
  [ "$code" -eq 0 ] || { tail -n 20 "$work"/node*.log >&2; fail "a node exited with $code after SIGTERM"; }
done
if grep -h '"level":50' "$work"/node*.log | head -5 | grep .; then fail "error lines in the nodes' logs"; fi
pids=("${pids[0]}")
echo "production layout: OK"
