#!/usr/bin/env bash
# A spike, as a TV spot makes one: three published web processes (Production settings,
# DB_POOL_SIZE=5 each) behind nginx, as `bin/dev --web 3` runs them and as Heroku's router spreads
# requests over dynos. The crowd (bench/spike, a small client) posts entries, each a new address,
# from one address per connection (nginx forwards it in X-Forwarded-For): first a steady load, then
# connections from 0 to 256 within 5 s, held 20 s. It reports the entries accepted per second
# before, during and after the ramp, p99, every answer that is not 202, and, once the mail has left,
# whether every accepted entry got its mail at the SendGrid stand-in.
#   bench/spike.sh [seconds after the ramp, default 20]
#   SPIKE_WARM=30 SPIKE_STEADY=10 SPIKE_STEADY_CONNECTIONS=64 SPIKE_RAMP=5 SPIKE_PEAK=256
#   SPIKE_RATE_LIMIT=100000 (the defaults)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/lib.sh"
AFTER=${1:-20}
WARM=${SPIKE_WARM:-30} STEADY=${SPIKE_STEADY:-10} STEADY_CONNECTIONS=${SPIKE_STEADY_CONNECTIONS:-64}
RAMP=${SPIKE_RAMP:-5} PEAK=${SPIKE_PEAK:-256}
bench_start
# The local stand-in for Heroku's router, as bin/dev installs it.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_install nginx-light
nginx=$(command -v nginx || echo /usr/sbin/nginx)

say "Publishing the crowd (bench/spike, Release)"
dotnet publish "$ROOT/bench/spike/Spike.csproj" -c Release --nologo -v q -o "$DIR/spike" >/dev/null \
  || die "dotnet publish bench/spike failed"

# The per-client limit stays on, counted in Redis for every request as in production, but above
# what one of these clients sends: each connection is one client, and sends hundreds of entries a
# minute where a person sends one. (SPIKE_RATE_LIMIT=5 shows each connection limited on its own.)
export RATE_LIMIT_PER_MINUTE=${SPIKE_RATE_LIMIT:-100000} DB_POOL_SIZE=5
webs=()
for i in 1 2 3; do
  DYNO=web.$i start_web $((ROUTER_PORT + i)) "web.$i"
  webs+=("$WEB_PID")
done

# bin/dev's router (its router function), with two differences: the crowd speaks plain HTTP to nginx
# where visitors speak HTTPS to Heroku's router, so nginx says https as the router would; and 256
# clients need more than nginx's default 512 connections (each request also opens one upstream).
mkdir -p "$DIR/nginx"
cat >"$DIR/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $DIR/nginx/nginx.pid;
error_log $DIR/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $DIR/nginx/body;
  proxy_temp_path $DIR/nginx/proxy;
  fastcgi_temp_path $DIR/nginx/fastcgi;
  uwsgi_temp_path $DIR/nginx/uwsgi;
  scgi_temp_path $DIR/nginx/scgi;
  upstream web {
    server 127.0.0.1:$((ROUTER_PORT + 1));
    server 127.0.0.1:$((ROUTER_PORT + 2));
    server 127.0.0.1:$((ROUTER_PORT + 3));
  }
  server {
    listen 127.0.0.1:$ROUTER_PORT;
    client_max_body_size 1m;
    location / {
      proxy_pass http://web;
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-Port 443;
      proxy_set_header X-Request-ID \$request_id;
    }
  }
}
NGINX
"$nginx" -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx" -g 'daemon off;' >"$DIR/nginx/nginx.log" 2>&1 &
router=$!
remember "$router"
wait_http "http://127.0.0.1:$ROUTER_PORT/healthz" || { cat "$DIR/nginx/nginx.log" >&2; die "nginx did not start"; }

query() { psql -X -q -At -h 127.0.0.1 -p "$PG_PORT" -U postgres bench -c "$1" 2>/dev/null; }
pending() { query "select count(*) from mt_doc_outboxmessage where status = 'Pending'"; }
web_ticks() { local pid s=0; for pid in "${webs[@]}"; do s=$((s + $(cpu_ticks "$pid"))); done; echo $s; }
nginx_ticks() { local pid s=0; for pid in $router $(pgrep -P "$router"); do s=$((s + $(cpu_ticks "$pid"))); done; echo $s; }
url=http://127.0.0.1:$ROUTER_PORT/api/v1/entries
# The client's socket continuations run on its epoll thread, as wrk's event loop does, not handed to
# the thread pool: a third of the CPU per request at a few hundred answers a second.
crowd() { DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 "$DIR/spike/Spike" "$@"; }

say "Warming up the three web processes (JIT): $STEADY_CONNECTIONS connections for $WARM s"
crowd "$url" warm "$WARM" "$STEADY_CONNECTIONS" >/dev/null
for _ in $(seq 240); do [ "$(pending)" = 0 ] && break; sleep 0.5; done

say "The spike: $STEADY_CONNECTIONS connections for $STEADY s, then 0 to $PEAK connections in $RAMP s, held $AFTER s"
mailed_before=$(wc -l <"$DIR/mailed.txt")
entrants_before=$(query "select count(*) from mt_doc_entrant")
web_before=$(web_ticks) pg_before=$(pg_ticks) nginx_before=$(nginx_ticks)
out=$DIR/spike.txt accepted=$DIR/spike-accepted.txt
ACCEPTED=$accepted crowd "$url" "$(date +%s)" "$STEADY" "$STEADY_CONNECTIONS" "$RAMP" "$PEAK" "$AFTER" >"$out" \
  || die "the crowd failed"
pg_load=$(($(pg_ticks) - pg_before)) nginx_load=$(($(nginx_ticks) - nginx_before))

# Every accepted entry's address at the stand-in, or two minutes have passed. (No clock process
# runs here: what the web processes do not send themselves stays unsent, and is counted missing.)
LC_ALL=C sort -u "$accepted" -o "$accepted"
n_accepted=$(wc -l <"$accepted")
[ "$n_accepted" -gt 0 ] || { cat "$out" >&2; die "no entry was accepted"; }
missing() { tail -n +$((mailed_before + 1)) "$DIR/mailed.txt" | LC_ALL=C sort -u | LC_ALL=C comm -23 "$accepted" - | wc -l; }
load_end=$(date +%s.%N)
for _ in $(seq 120); do [ "$(missing)" = 0 ] && break; sleep 1; done
mail_lag=$(echo "$(date +%s.%N) - $load_end" | bc)
left=$(missing)
web_all=$(($(web_ticks) - web_before))

field() { awk -v line="$1" -v key="$2" '$1 " " $2 == line {for (i = 3; i < NF; i += 2) if ($i == key) print $(i + 1)}' "$out"; }
entrants=$(($(query "select count(*) from mt_doc_entrant") - entrants_before))
requests=$(awk '$1 == "client" {print $5}' "$out")
steady_rate=$(field "phase steady" rate) ramp_rate=$(field "phase ramp" rate)
per_entry() { echo $(($1 * 1000000 / HZ / n_accepted)); }

echo
echo "Spike — $(machine_facts)"
echo "three web processes (DB_POOL_SIZE=5 each) behind nginx; per-client limit $RATE_LIMIT_PER_MINUTE a minute; warmed up $WARM s"
echo
echo "| phase | connections | seconds | entries/s accepted | answers | p50 | p99 |"
echo "|---|---|---|---|---|---|---|"
for phase in steady ramp after; do
  case $phase in
    steady) label='steady, before the ramp' connections=$STEADY_CONNECTIONS ;;
    ramp) label='the ramp' connections="0 → $PEAK" ;;
    after) label='after the ramp' connections=$PEAK ;;
  esac
  printf '| %s | %s | %s | %s | %s | %s ms | %s ms |\n' "$label" "$connections" "$(field "phase $phase" seconds)" \
    "$(field "phase $phase" rate)" "$(field "phase $phase" answers)" "$(field "phase $phase" p50)" "$(field "phase $phase" p99)"
done
echo
echo "| answer | count | with Retry-After |"
echo "|---|---|---|"
awk '$1 == "outcome" {printf "| %s | %s | %s |\n", $2, $4, $6}' "$out"
echo
echo "accepted per second, steady: $(awk '$1 == "per-second" && $2 == "steady" {$1 = $2 = ""; print substr($0, 3)}' "$out")"
echo "accepted per second from the ramp's start: $(awk '$1 == "per-second" && $2 == "crowd" {$1 = $2 = ""; print substr($0, 3)}' "$out")"
echo "answers after their phase's end (not in the rates): $(field "phase tail" answers), $(field "phase tail" accepted) of them accepted"
echo

ratio=$(echo "scale=2; $ramp_rate / $steady_rate" | bc | sed 's/^\./0./')
others=$(awk '$1 == "outcome" && $2 != 202 && !(($2 == 429 || $2 == 503) && $4 == $6) {printf "%s%s x%s (%s with Retry-After)", sep, $2, $4, $6; sep = ", "}' "$out")
verdict() { [ "$1" = 1 ] && echo met || echo MISSED; }
echo "Goals (issue 20):"
echo "- entries/s accepted during the ramp ≥ 0.9× the steady: ${ratio}× ($ramp_rate against $steady_rate): $(verdict "$(echo "$ratio >= 0.9" | bc)")"
echo "- every answer that is not 202 a 429 or 503 with Retry-After: $([ -z "$others" ] && echo met || echo "MISSED: $others")"
echo "- every accepted entry mailed: $n_accepted accepted, $((n_accepted - left)) of them mailed within $(printf '%.1f' "$mail_lag") s of the load's end, $left not: $(verdict "$([ "$left" = 0 ] && echo 1)")"
echo
echo "entrants written: $entrants (accepted: $n_accepted; more when an entry was committed but its answer was not a 202 or did not arrive)"
echo "CPU per accepted entry: web processes $(per_entry "$web_all") µs with the mail, PostgreSQL $(per_entry "$pg_load") µs, nginx $(per_entry "$nginx_load") µs; the crowd's client $(awk '$1 == "client" {printf "%.0f", $3 * 1000 / $5}' "$out") µs per request ($requests requests)"
echo "peak RSS of the web processes: $(for pid in "${webs[@]}"; do printf '%s ' "$(peak_rss_mib "$pid")"; done)MiB"
