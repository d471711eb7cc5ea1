#!/usr/bin/env bash
# The README's first command: brings the local stack up, feeds it sample pmacct traffic (Debian's
# pmacctd and nfacctd replaying captures into Kafka with the kafka plugin), runs the bridge on it
# in the background and shows where to look. `scripts/demo.sh stop` stops the bridge.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
STACK_DIR=${STACK_DIR:-$ROOT/.stack}
PIDFILE=$STACK_DIR/run/demo-bridge.pid
LOG=$STACK_DIR/logs/demo-bridge.log
TOPIC=pmacct.demo
FIXTURES=${PMACCT_SHARED:-$ROOT/../shared}/fixtures

if [ "${1:-}" = stop ]; then
  [ -f "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null && echo "bridge stopped" || echo "bridge not running"
  rm -f "$PIDFILE"
  exit 0
fi

stack/stack.sh up
command -v /usr/bin/python3 >/dev/null && /usr/bin/python3 -c 'import scapy' 2>/dev/null ||
  { sudo_apt() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }; sudo_apt apt-get install -y -qq python3-scapy >/dev/null; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "[demo] replaying sample traffic through pmacct into Kafka topic $TOPIC"
(cd "$work" && /usr/bin/python3 "$FIXTURES/debian-pmacct-1.7.7/make-traffic-pcap.py")
replay() { # daemon pcap aggregate extra...
  local daemon=$1 pcap=$2 aggregate=$3
  shift 3
  {
    printf 'daemonize: false\npcap_savefile: %s\npcap_savefile_wait: false\nplugins: kafka[k]\n' "$pcap"
    printf 'aggregate[k]: %s\nkafka_topic[k]: %s\nkafka_broker_host[k]: 127.0.0.1\nkafka_broker_port[k]: 9092\n' "$aggregate" "$TOPIC"
    printf 'kafka_refresh_time[k]: 300\nkafka_history[k]: 5m\nkafka_history_roundoff[k]: m\n'
    printf '%s\n' "$@"
  } >"$work/$daemon.conf"
  (cd "$work" && "/usr/sbin/$daemon" -f "$work/$daemon.conf" >"$work/$daemon.log" 2>&1) || { cat "$work/$daemon.log"; exit 1; }
}
replay pmacctd "$work/traffic.pcap" "src_host, dst_host, src_port, dst_port, proto, tos, timestamp_start, timestamp_end" "timestamps_utc: true"
for capture in "$FIXTURES"/pmacct-test-automation/*/traffic-00.pcap; do
  replay nfacctd "$capture" "peer_src_ip, src_host, dst_host, src_port, dst_port, proto, tos, in_iface, out_iface, timestamp_start, timestamp_end" \
    "timestamps_since_epoch: true" "timestamps_utc: true"
done

if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "[demo] bridge already running (pid $(cat "$PIDFILE"))"
else
  echo "[demo] starting the bridge (log: $LOG)"
  KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 KAFKA_TOPIC=$TOPIC KAFKA_CONSUMER_GROUP_ID=demo ELASTIC_HOSTS=127.0.0.1:9200 \
    FLOW_TIME_MAX_AGE=off ELASTIC_INDEX_PREFIX=sflow ELASTIC_MAX_TIME_TO_SEND=2 PMACCT_TIMEZONE=UTC \
    setsid nohup scripts/deno task start >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
fi
for _ in $(seq 60); do
  lag=$(curl -fsS localhost:9003/metrics 2>/dev/null | awk '/^pmacct_bridge_kafka_consumer_lag/ {s += $2; n++} END {if (n) print s}' || true)
  [ "${lag:-x}" = 0 ] && break
  sleep 1
done
curl -fsS -XPOST 'localhost:9200/sflow-*/_refresh' >/dev/null
cat <<MSG

[demo] done. The bridge keeps running; stop it with: scripts/demo.sh stop
Daily indices, named by each flow's own UTC date:
$(curl -fsS 'localhost:9200/_cat/indices/sflow-*?v&s=index&h=index,docs.count,store.size')

Look at the data:
  curl 'localhost:9200/sflow-*/_search?size=1&sort=@timestamp:desc&pretty'
  curl 'localhost:9200/sflow-*/_mapping?pretty'
Metrics, health and readiness:
  curl localhost:9003/metrics | grep -E '^(samples_count_total|pmacct_bridge_)'
  curl localhost:9003/readyz
MSG
