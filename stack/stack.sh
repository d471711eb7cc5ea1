#!/usr/bin/env bash
# The local test stack: an Apache Kafka broker (KRaft) on 127.0.0.1:9092 and an Elasticsearch
# node on 127.0.0.1:9200, both from Maven Central, plus Debian's pmacct as the traffic source.
#
#   stack/stack.sh install            fetch everything (idempotent, cached in .stack/)
#   stack/stack.sh up [kafka|elasticsearch]     start and wait until they answer
#   stack/stack.sh down [kafka|elasticsearch]   stop
#   stack/stack.sh status             say what runs
#   stack/stack.sh reset              stop both and delete their data (downloads stay)
#   stack/stack.sh user add NAME PASSWORD | user del NAME
#                                     manage an Elasticsearch file-realm user (superuser role);
#                                     requests without credentials run as an anonymous superuser
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_DIR=${STACK_DIR:-$ROOT/.stack}
KAFKA_VERSION=3.9.1
ES_VERSION=8.14.1
ES_ARTIFACT=org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip
ES_USER=${ES_USER:-elasticsearch}
KAFKA_HOST=127.0.0.1:9092
ES_URL=http://127.0.0.1:9200
LOG_DIR=$STACK_DIR/logs
RUN_DIR=$STACK_DIR/run
DATA_DIR=$STACK_DIR/data
ES_HOME=$STACK_DIR/elasticsearch-$ES_VERSION

say() { printf '[stack] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Elasticsearch 8.14 runs on Java 17 to 23 (it still uses the Security Manager, gone in 24).
find_java_home() {
  local candidate version
  for candidate in "${STACK_JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-* /usr/lib/jvm/java-21-openjdk-*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] || continue
    version=$("$candidate/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
    if [ "${version:-0}" -ge 17 ] && [ "$version" -le 23 ]; then echo "$candidate"; return 0; fi
  done
  return 1
}

install() {
  mkdir -p "$STACK_DIR" "$LOG_DIR" "$RUN_DIR" "$DATA_DIR"
  apt_install pmacct kcat curl unzip
  find_java_home >/dev/null || apt_install openjdk-17-jdk-headless
  command -v mvn >/dev/null || apt_install maven
  local mvn_args=(-q -B -f "$ROOT/stack/pom.xml" "-Dmaven.repo.local=$STACK_DIR/m2")
  if ! ls "$STACK_DIR"/kafka/libs/kafka_2.13-$KAFKA_VERSION.jar >/dev/null 2>&1; then
    say "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central"
    mvn "${mvn_args[@]}" dependency:copy-dependencies -DincludeScope=runtime \
      "-DoutputDirectory=$STACK_DIR/kafka/libs" >"$LOG_DIR/maven-kafka.log" 2>&1 ||
      die "Maven could not fetch Kafka; see $LOG_DIR/maven-kafka.log"
  fi
  if [ ! -x "$ES_HOME/bin/elasticsearch" ]; then
    say "fetching Elasticsearch $ES_VERSION from Maven Central"
    mvn "${mvn_args[@]}" dependency:copy "-Dartifact=$ES_ARTIFACT" \
      "-DoutputDirectory=$STACK_DIR/downloads" >"$LOG_DIR/maven-elasticsearch.log" 2>&1 ||
      die "Maven could not fetch Elasticsearch; see $LOG_DIR/maven-elasticsearch.log"
    unzip -q -o "$STACK_DIR/downloads/elasticsearch-$ES_VERSION.zip" -d "$STACK_DIR"
  fi
  # Elasticsearch refuses to run as root: give it a user of its own.
  if [ "$(id -u)" = 0 ] && ! id "$ES_USER" >/dev/null 2>&1; then
    useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin "$ES_USER"
  fi
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

kafka_answers() { kcat -b "$KAFKA_HOST" -L -m 3 >/dev/null 2>&1; }
es_answers() { curl -fsS -m 3 "$ES_URL/_cluster/health?wait_for_status=yellow&timeout=2s" >/dev/null 2>&1; }

wait_until() { # name pidfile log check seconds
  local name=$1 pidfile=$2 log=$3 check=$4 seconds=$5 i
  for ((i = 0; i < seconds; i++)); do
    if $check; then say "$name is up"; return 0; fi
    pid_alive "$pidfile" || die "$name exited while starting; see its log: $log"
    sleep 1
  done
  die "$name did not answer within ${seconds}s; see its log: $log"
}

up_kafka() {
  local pidfile=$RUN_DIR/kafka.pid log=$LOG_DIR/kafka.log props=$RUN_DIR/kafka.properties java_home
  if pid_alive "$pidfile" && kafka_answers; then say "kafka already up"; return 0; fi
  java_home=$(find_java_home) || die "no Java 17-23 found for Kafka; run: stack/stack.sh install"
  mkdir -p "$DATA_DIR/kafka" "$RUN_DIR" "$LOG_DIR"
  { cat "$ROOT/stack/kafka/server.properties"; echo "log.dirs=$DATA_DIR/kafka"; } >"$props"
  local java=("$java_home/bin/java" -cp "$STACK_DIR/kafka/libs/*"
    "-Dlog4j.configuration=file:$ROOT/stack/kafka/log4j.properties")
  if [ ! -f "$DATA_DIR/kafka/meta.properties" ]; then
    "${java[@]}" kafka.tools.StorageTool format -t "$("${java[@]}" kafka.tools.StorageTool random-uuid)" \
      -c "$props" >>"$log" 2>&1 || die "formatting Kafka storage failed; see $log"
  fi
  say "starting kafka (log: $log)"
  KAFKA_HEAP_OPTS= setsid nohup "${java[@]}" -Xms512m -Xmx1g kafka.Kafka "$props" >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_until kafka "$pidfile" "$log" kafka_answers 120
}

up_elasticsearch() {
  local pidfile=$RUN_DIR/elasticsearch.pid log=$LOG_DIR/elasticsearch.log java_home
  if pid_alive "$pidfile" && es_answers; then say "elasticsearch already up"; return 0; fi
  java_home=$(find_java_home) || die "no Java 17-23 found for Elasticsearch; run: stack/stack.sh install"
  mkdir -p "$DATA_DIR/elasticsearch" "$LOG_DIR/elasticsearch" "$RUN_DIR"
  cp "$ROOT/stack/elasticsearch/elasticsearch.yml" "$ES_HOME/config/elasticsearch.yml"
  rm -f "$pidfile"
  local run=()
  if [ "$(id -u)" = 0 ]; then
    chown -R "$ES_USER:" "$ES_HOME" "$DATA_DIR/elasticsearch" "$LOG_DIR/elasticsearch"
    chown "$ES_USER:" "$RUN_DIR"
    run=(runuser -u "$ES_USER" --)
  fi
  say "starting elasticsearch (log: $log)"
  ES_JAVA_HOME=$java_home ES_JAVA_OPTS=${ES_JAVA_OPTS:--Xms1g -Xmx1g} setsid nohup "${run[@]}" \
    "$ES_HOME/bin/elasticsearch" -p "$pidfile" -E "path.data=$DATA_DIR/elasticsearch" \
    -E "path.logs=$LOG_DIR/elasticsearch" >>"$log" 2>&1 </dev/null &
  local launcher=$! i=0
  while [ ! -s "$pidfile" ] && [ $i -lt 60 ]; do
    kill -0 "$launcher" 2>/dev/null || die "elasticsearch exited while starting; see its log: $log"
    sleep 1
    i=$((i + 1))
  done
  [ -s "$pidfile" ] || echo "$launcher" >"$pidfile"
  wait_until elasticsearch "$pidfile" "$log" es_answers 180
}

stop() { # name pidfile
  local name=$1 pidfile=$2 pid i
  if ! pid_alive "$pidfile"; then say "$name not running"; rm -f "$pidfile"; return 0; fi
  pid=$(cat "$pidfile")
  say "stopping $name (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

es_user() { # add NAME PASSWORD | del NAME
  local java_home run=()
  java_home=$(find_java_home) || die "no Java 17-23 found; run: stack/stack.sh install"
  [ "$(id -u)" = 0 ] && run=(runuser -u "$ES_USER" --)
  case "${1:-}" in
  add) ES_JAVA_HOME=$java_home "${run[@]}" "$ES_HOME/bin/elasticsearch-users" useradd "$2" -p "$3" -r superuser ;;
  del) ES_JAVA_HOME=$java_home "${run[@]}" "$ES_HOME/bin/elasticsearch-users" userdel "$2" ;;
  *) die "usage: stack/stack.sh user add NAME PASSWORD | user del NAME" ;;
  esac
}

services() { if [ -n "${1:-}" ]; then echo "$1"; else echo kafka elasticsearch; fi; }

cmd=${1:-}
shift || true
case "$cmd" in
install) install ;;
up)
  install
  for s in $(services "${1:-}"); do
    case "$s" in kafka) up_kafka ;; elasticsearch) up_elasticsearch ;; *) die "unknown service $s" ;; esac
  done
  ;;
down)
  for s in $(services "${1:-}"); do
    case "$s" in kafka | elasticsearch) stop "$s" "$RUN_DIR/$s.pid" ;; *) die "unknown service $s" ;; esac
  done
  ;;
status)
  kafka_answers && say "kafka: up at $KAFKA_HOST" || say "kafka: down"
  es_answers && say "elasticsearch: up at $ES_URL" || say "elasticsearch: down"
  ;;
user) es_user "$@" ;;
reset)
  "$0" down
  rm -rf "$DATA_DIR" "$RUN_DIR"
  say "data deleted"
  ;;
*)
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
