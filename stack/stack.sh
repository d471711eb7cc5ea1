#!/usr/bin/env bash
# The local test stack, every server from Maven Central, plus Debian's pmacct as the traffic
# source. Everything listens on 127.0.0.1 only.
#
#   stack/stack.sh install                 fetch everything (idempotent, cached in .stack/)
#   stack/stack.sh up [SERVICE...]         start and wait until they answer (default: kafka elasticsearch)
#   stack/stack.sh down [SERVICE...]       stop (default: every service that runs)
#   stack/stack.sh kill SERVICE            SIGKILL it (fault tests); `up SERVICE` brings it back
#   stack/stack.sh status                  say what runs
#   stack/stack.sh reset                   stop everything and delete its data (downloads stay)
#   stack/stack.sh user [elasticsearch|es9] add NAME PASSWORD [ROLE] | role NAME ROLE | del NAME
#                                          manage a file-realm user (role: superuser, or one of
#                                          stack/elasticsearch/roles.yml); on `elasticsearch` requests
#                                          without credentials run as an anonymous superuser, whose role
#                                          every user then also gets; es9 has no anonymous access
#   stack/stack.sh scram SERVICE NAME PASSWORD   set a SCRAM-SHA-512 user's password on a broker
#
# Services (docs/local-stack.md has the table):
#   kafka          Kafka 3.9.1: PLAINTEXT :9092, SSL with client certificates :9094,
#                  SASL_PLAINTEXT :9095 (PLAIN, SCRAM), SASL_SSL :9096 (SCRAM)
#   kafka4         Kafka 4.1.1 :9192, auto.create.topics.enable=false
#   elasticsearch  Elasticsearch 8.14.1 :9200, action.auto_create_index=false
#   es7            Elasticsearch 7.17.25 :9201
#   es9            Elasticsearch 9.1.5 over HTTPS :9202 (certificate from .stack/certs/ca.pem), users
#                  only (admin/admin-secret), action.auto_create_index=false
#   opensearch     OpenSearch 2.19.3 :9203
#   eslimits       Elasticsearch 8.14.1 :9204, http.max_content_length=1mb, security off,
#                  action.auto_create_index=false (requests refused for their size)
#   escluster-1 escluster-2 escluster-3
#                  a 3-node Elasticsearch 8.14.1 cluster :9211-9213, transport :9411-9413
#                  (`escluster` names all three)
#   kafkacluster-1 kafkacluster-2 kafkacluster-3
#                  a 3-node Kafka 4.1.1 cluster (KRaft, each node a broker and a controller):
#                  brokers :9311-9313, controllers :9321-9323, replication 3, min.insync.replicas 2
#                  (`kafkacluster` names all three; each alone: kill, up, down kafkacluster-2)
set -euo pipefail

# The real path: a clone reached through a link is searched as the directories it lies in.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
ES_USER=${ES_USER:-elasticsearch}

say() { printf '[stack] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# Whether a user other than the owner may reach $1: every directory from / down searchable by others.
reachable_by_others() {
  local dir=$1
  while [ -n "$dir" ]; do
    [ "$(($(stat -c '0%a' "$dir") & 1))" = 1 ] || return 1
    [ "$dir" = / ] && return 0
    dir=$(dirname "$dir")
  done
}

# Where the servers' files live. Run as root, Elasticsearch runs as $ES_USER, which must reach
# them: a clone under a directory it cannot search (root's home, mode 700) keeps its stack in
# /var/tmp instead, one per clone, and .stack in the clone links there.
choose_stack_dir() {
  local here=$ROOT/.stack
  # A link made before keeps its target, made again if /var/tmp's cleaning removed it.
  if [ -L "$here" ]; then
    mkdir -p "$(readlink "$here")"
    echo "$here"
    return
  fi
  if [ "$(id -u)" != 0 ] || reachable_by_others "$ROOT"; then
    echo "$here"
    return
  fi
  local elsewhere
  elsewhere=/var/tmp/pmacct-kafka-elastic-stack-$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)
  if [ -d "$here" ] && [ ! -L "$here" ]; then
    die "$ES_USER cannot reach $here: a parent directory of $ROOT is not searchable by others (mode 700?). Move the stack out: mv $here $elsewhere && ln -s $elsewhere $here"
  fi
  mkdir -p "$elsewhere"
  ln -sfn "$elsewhere" "$here"
  say "$ES_USER cannot reach $ROOT (a parent directory is not searchable by others): the stack lives in $elsewhere, linked from .stack"
  echo "$here"
}
STACK_DIR=${STACK_DIR:-$(choose_stack_dir)}
# The real directory, as the servers' users see it (.stack may be a link into /var/tmp).
STACK_DIR=$(cd "$STACK_DIR" 2>/dev/null && pwd -P || echo "$STACK_DIR")
LOG_DIR=$STACK_DIR/logs
RUN_DIR=$STACK_DIR/run
DATA_DIR=$STACK_DIR/data
CERT_DIR=$STACK_DIR/certs
ALL_SERVICES="kafka kafka4 elasticsearch es7 es9 opensearch eslimits escluster-1 escluster-2 escluster-3 kafkacluster-1 kafkacluster-2 kafkacluster-3"
# es9 has no anonymous access: this file-realm superuser is made at each start.
ES9_ADMIN=admin:admin-secret

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

# --- what each service is -------------------------------------------------------------------

# kind: kafka | elasticsearch | opensearch
kind_of() {
  case "$1" in
  kafka | kafka4 | kafkacluster-[123]) echo kafka ;;
  opensearch) echo opensearch ;;
  elasticsearch | es7 | es9 | eslimits | escluster-[123]) echo elasticsearch ;;
  *) die "unknown service $1 (one of: $ALL_SERVICES escluster kafkacluster)" ;;
  esac
}

version_of() {
  case "$1" in
  kafka) echo 3.9.1 ;;
  kafka4 | kafkacluster-[123]) echo 4.1.1 ;;
  elasticsearch | eslimits | escluster-[123]) echo 8.14.1 ;;
  es7) echo 7.17.25 ;;
  es9) echo 9.1.5 ;;
  opensearch) echo 2.19.3 ;;
  esac
}

http_port_of() {
  case "$1" in
  kafka) echo 9092 ;;
  kafka4) echo 9192 ;;
  elasticsearch) echo 9200 ;;
  es7) echo 9201 ;;
  es9) echo 9202 ;;
  opensearch) echo 9203 ;;
  eslimits) echo 9204 ;;
  escluster-[123]) echo $((9210 + ${1#escluster-})) ;;
  kafkacluster-[123]) echo $((9310 + ${1#kafkacluster-})) ;;
  esac
}

# The second port: a search node's transport, a cluster broker's controller listener. The
# escluster nodes' transport ports are clear of the kafkacluster brokers (9311-9313).
second_port_of() {
  case "$1" in
  escluster-[123]) echo $((9410 + ${1#escluster-})) ;;
  kafkacluster-[123]) echo $((9320 + ${1#kafkacluster-})) ;;
  *) echo $(($(http_port_of "$1") + 100)) ;;
  esac
}

# The nodes of a three-node cluster start together and wait for their peers (a quorum).
cluster_node() { [[ $1 == escluster-[123] || $1 == kafkacluster-[123] ]]; }

url_of() {
  local scheme=http
  [ "$1" = es9 ] && scheme=https
  echo "$scheme://127.0.0.1:$(http_port_of "$1")"
}

# Elasticsearch 8.14 and 7.17 still use the Security Manager (gone in Java 24); 9.x needs 21+.
java_range_of() {
  case "$1" in
  es9) echo "21 99" ;;
  *) echo "17 23" ;;
  esac
}

find_java_home() { # min max
  local candidate version
  for candidate in "${STACK_JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-* /usr/lib/jvm/java-21-openjdk-* \
    /usr/lib/jvm/temurin-2[1-9]-* /usr/lib/jvm/*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] || continue
    version=$("$candidate/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
    if [ "${version:-0}" -ge "$1" ] && [ "$version" -le "$2" ]; then echo "$candidate"; return 0; fi
  done
  return 1
}

java_for() { # service
  local range
  read -r -a range <<<"$(java_range_of "$1")"
  find_java_home "${range[0]}" "${range[1]}" ||
    die "no Java ${range[0]}-${range[1]} found for $1 (looked in /usr/lib/jvm); run: stack/stack.sh install"
}

# --- install --------------------------------------------------------------------------------

maven() { # log-name goal args...
  local name=$1
  shift
  mvn -q -B -f "$ROOT/stack/pom.xml" "-Dmaven.repo.local=$STACK_DIR/m2" "$@" >"$LOG_DIR/maven-$name.log" 2>&1 ||
    die "Maven could not fetch $name; see $LOG_DIR/maven-$name.log"
}

install_kafka() { # version slf4j-binding
  local libs=$STACK_DIR/kafka-$1/libs
  ls "$libs"/kafka_2.13-"$1".jar >/dev/null 2>&1 && return 0
  say "fetching Apache Kafka $1 jars from Maven Central"
  maven "kafka-$1" dependency:copy-dependencies -DincludeScope=runtime "-Dkafka.version=$1" \
    "-Dslf4j.binding=$2" "-DoutputDirectory=$libs"
}

install_search() { # group artifact version
  local home=$STACK_DIR/$2-$3
  [ -x "$home/bin/$2" ] && return 0
  say "fetching $2 $3 from Maven Central"
  maven "$2-$3" dependency:copy "-Dartifact=$1:$2:$3:zip" "-DoutputDirectory=$STACK_DIR/downloads"
  unzip -q -o "$STACK_DIR/downloads/$2-$3.zip" -d "$STACK_DIR"
}

# One CA signs the servers' certificate (127.0.0.1, localhost) and a client certificate for
# mutual TLS; a second CA signs nothing of ours, for the "wrong CA" tests.
make_certs() {
  [ -f "$CERT_DIR/server-chain.pem" ] && return 0
  mkdir -p "$CERT_DIR"
  local ssl=(openssl)
  (
    cd "$CERT_DIR"
    for ca in ca other-ca; do
      "${ssl[@]}" req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=pmacct-kafka-elastic test $ca" \
        -keyout "$ca.key" -out "$ca.pem" 2>/dev/null
    done
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >server.ext
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    for leaf in server client; do
      "${ssl[@]}" req -newkey rsa:2048 -nodes -subj "/CN=$leaf" -keyout "$leaf.key" -out "$leaf.csr" 2>/dev/null
      "${ssl[@]}" x509 -req -in "$leaf.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile "$leaf.ext" -out "$leaf.pem" 2>/dev/null
    done
    # The chain a server presents: its certificate and the CA's, as Elasticsearch 8 sets itself
    # up (ELASTIC_CA_FINGERPRINT finds the CA in it).
    cat server.pem ca.pem >server-chain.pem
    # Kafka's PEM key store: the key (PKCS#8, unencrypted) followed by its certificate chain.
    cat server.key server-chain.pem >server-keystore.pem
    rm -f ./*.csr ./*.ext ./*.srl
    chmod 644 ./*
  )
  say "certificates made in $CERT_DIR"
}

# The tests' reference implementations from PyPI, in a venv of Debian's python3: the Community ID
# spec's own (`communityid`), whose values the bridge's must equal.
install_python_references() {
  local venv=$STACK_DIR/python
  [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
  "$venv/bin/python" -c 'import communityid' 2>/dev/null && return 0
  say "installing communityid from PyPI into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check communityid==1.5.0
}

install() {
  mkdir -p "$STACK_DIR" "$LOG_DIR" "$RUN_DIR" "$DATA_DIR"
  apt_install pmacct kcat curl unzip openssl prometheus python3-venv systemd
  install_python_references
  # The original Python tool's packages: the benchmark's baseline and the in-place replacement tests.
  bash "$ROOT/bench/install.sh"
  find_java_home 17 23 >/dev/null || apt_install openjdk-17-jdk-headless
  find_java_home 21 99 >/dev/null || say "WARNING: no Java 21+ in /usr/lib/jvm: es9 cannot start"
  command -v mvn >/dev/null || apt_install maven
  install_kafka 3.9.1 slf4j-reload4j
  install_kafka 4.1.1 slf4j-simple
  install_search org.elasticsearch.distribution.integ-test-zip elasticsearch 8.14.1
  install_search org.elasticsearch.distribution.integ-test-zip elasticsearch 7.17.25
  install_search org.elasticsearch.distribution.integ-test-zip elasticsearch 9.1.5
  install_search org.opensearch.distribution.integ-test-zip opensearch 2.19.3
  make_certs
  # Elasticsearch refuses to run as root: give it a user of its own.
  if [ "$(id -u)" = 0 ] && ! id "$ES_USER" >/dev/null 2>&1; then
    useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin "$ES_USER"
  fi
}

# --- start and stop -------------------------------------------------------------------------

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

kafka_answers() { kcat -b "127.0.0.1:$(http_port_of "$1")" -L -m 3 >/dev/null 2>&1; }
search_answers() {
  local url auth=()
  url=$(url_of "$1")
  [ "$1" = es9 ] && auth=(-u "$ES9_ADMIN")
  curl -fsS -m 3 --cacert "$CERT_DIR/ca.pem" "${auth[@]}" "$url/_cluster/health?wait_for_status=yellow&timeout=2s" \
    >/dev/null 2>&1
}
answers() { if [ "$(kind_of "$1")" = kafka ]; then kafka_answers "$1"; else search_answers "$1"; fi; }

wait_until() { # service pidfile log seconds
  local name=$1 pidfile=$2 log=$3 seconds=$4 i
  for ((i = 0; i < seconds; i++)); do
    if answers "$name"; then say "$name is up"; return 0; fi
    pid_alive "$pidfile" || die "$name exited while starting; see its log: $log"
    sleep 1
  done
  die "$name did not answer within ${seconds}s; see its log: $log"
}

# The kafka CLI classes of a version, e.g. `kafka_java kafka4 kafka.tools.StorageTool ...`.
kafka_java() {
  local service=$1 java_home
  shift
  java_home=$(java_for "$service")
  local version
  version=$(version_of "$service")
  local log4j=()
  [ "$service" = kafka ] && log4j=("-Dlog4j.configuration=file:$ROOT/stack/kafka/log4j.properties")
  "$java_home/bin/java" -cp "$STACK_DIR/kafka-$version/libs/*" "${log4j[@]}" "$@"
}

kafka_properties() { # service data-dir
  cat "$ROOT/stack/kafka/server.properties"
  echo "log.dirs=$2"
  case "$1" in
  kafka) sed "s#@CERTS@#$CERT_DIR#g" "$ROOT/stack/kafka/security.properties" ;;
  kafka4) cat "$ROOT/stack/kafka/kafka4.properties" ;;
  kafkacluster-*)
    cat "$ROOT/stack/kafka/cluster.properties"
    echo "node.id=${1#kafkacluster-}"
    echo "listeners=PLAINTEXT://127.0.0.1:$(http_port_of "$1"),CONTROLLER://127.0.0.1:$(second_port_of "$1")"
    echo "advertised.listeners=PLAINTEXT://127.0.0.1:$(http_port_of "$1")"
    ;;
  esac
}

# The id a broker's storage is formatted with: a new one for a single broker, one for all the
# nodes of kafkacluster (made when the first of them is formatted, kept beside their data).
kafka_cluster_id() { # service
  local file=$DATA_DIR/kafkacluster.cluster-id
  if [[ $1 != kafkacluster-* ]]; then kafka_java "$1" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1; return; fi
  [ -s "$file" ] || kafka_java "$1" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1 >"$file"
  cat "$file"
}

up_kafka() { # service
  local service=$1 pidfile=$RUN_DIR/$1.pid log=$LOG_DIR/$1.log props=$RUN_DIR/$1.properties data=$DATA_DIR/$1
  if pid_alive "$pidfile" && kafka_answers "$service"; then say "$service already up"; return 0; fi
  mkdir -p "$data" "$RUN_DIR" "$LOG_DIR"
  kafka_properties "$service" "$data" >"$props"
  if [ ! -f "$data/meta.properties" ]; then
    local scram=()
    # SCRAM users exist from the first start (KRaft stores them in its metadata log).
    [ "$service" = kafka ] && scram=(--add-scram 'SCRAM-SHA-512=[name=bridge,password=bridge-secret]'
      --add-scram 'SCRAM-SHA-256=[name=bridge,password=bridge-secret]')
    kafka_java "$service" kafka.tools.StorageTool format -t "$(kafka_cluster_id "$service")" \
      -c "$props" "${scram[@]}" >>"$log" 2>&1 || die "formatting $service storage failed; see $log"
  fi
  say "starting $service (log: $log)"
  local java_home
  java_home=$(java_for "$service")
  local log4j=()
  [ "$service" = kafka ] && log4j=("-Dlog4j.configuration=file:$ROOT/stack/kafka/log4j.properties")
  local heap=(-Xms256m -Xmx1g)
  [[ $service == kafkacluster-* ]] && heap=(-Xms256m -Xmx512m)
  setsid nohup "$java_home/bin/java" -cp "$STACK_DIR/kafka-$(version_of "$service")/libs/*" "${log4j[@]}" \
    "${heap[@]}" kafka.Kafka "$props" >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  cluster_node "$service" && [ "${WAIT_FOR_CLUSTER:-yes}" = no ] && return 0
  wait_until "$service" "$pidfile" "$log" 120
}

# Writes the node's config directory: the distribution's files plus our elasticsearch.yml.
search_config() { # service dir
  local service=$1 dir=$2 kind home
  kind=$(kind_of "$service")
  home=$STACK_DIR/$kind-$(version_of "$service")
  rm -rf "$dir"
  mkdir -p "$dir"
  cp -r "$home/config/." "$dir/"
  local yml=$dir/$kind.yml
  case "$service" in
  elasticsearch) cp "$ROOT/stack/elasticsearch/elasticsearch.yml" "$yml" ;;
  escluster-*) cp "$ROOT/stack/elasticsearch/cluster.yml" "$yml" ;;
  *) cp "$ROOT/stack/elasticsearch/$service.yml" "$yml" ;;
  esac
  case "$service" in
  elasticsearch | es9) cp "$ROOT/stack/elasticsearch/roles.yml" "$dir/roles.yml" ;;
  esac
  if [ "$service" = es9 ]; then
    cp "$CERT_DIR/ca.pem" "$CERT_DIR/server-chain.pem" "$CERT_DIR/server.key" "$dir/"
    users_tool es9 "$dir" useradd "${ES9_ADMIN%%:*}" -p "${ES9_ADMIN#*:}" -r superuser
  fi
}

# Runs elasticsearch-users of the service's version on a config directory.
users_tool() { # service config-dir args...
  local service=$1 conf=$2 java_home home run=()
  shift 2
  java_home=$(java_for "$service")
  home=$STACK_DIR/elasticsearch-$(version_of "$service")
  [ "$(id -u)" = 0 ] && [ "$(stat -c %U "$conf")" = "$ES_USER" ] && run=(runuser -u "$ES_USER" --)
  "${run[@]}" env "ES_PATH_CONF=$conf" "ES_JAVA_HOME=$java_home" "$home/bin/elasticsearch-users" "$@"
}

up_search() { # service
  local service=$1 pidfile=$RUN_DIR/$1.pid log=$LOG_DIR/$1.log kind java_home
  if pid_alive "$pidfile" && search_answers "$service"; then say "$service already up"; return 0; fi
  kind=$(kind_of "$service")
  java_home=$(java_for "$service")
  local home=$STACK_DIR/$kind-$(version_of "$service") conf=$RUN_DIR/$service-config data=$DATA_DIR/$service
  local logs=$LOG_DIR/$service
  mkdir -p "$data" "$logs" "$RUN_DIR"
  search_config "$service" "$conf"
  rm -f "$pidfile"
  local run=() settings=(-E "path.data=$data" -E "path.logs=$logs" -E "http.port=$(http_port_of "$service")"
    -E "transport.port=$(second_port_of "$service")")
  [[ $service == escluster-* ]] && settings+=(-E "node.name=$service")
  if [ "$(id -u)" = 0 ]; then
    chown -R "$ES_USER:" "$home" "$conf" "$data" "$logs"
    chown "$ES_USER:" "$RUN_DIR"
    run=(runuser -u "$ES_USER" --)
  fi
  local heap=${ES_JAVA_OPTS:--Xms512m -Xmx512m}
  [ "$service" = elasticsearch ] && heap=${ES_JAVA_OPTS:--Xms1g -Xmx1g}
  say "starting $service (log: $log)"
  local java_var=ES_JAVA_HOME opts_var=ES_JAVA_OPTS conf_var=ES_PATH_CONF
  [ "$kind" = opensearch ] && java_var=OPENSEARCH_JAVA_HOME opts_var=OPENSEARCH_JAVA_OPTS conf_var=OPENSEARCH_PATH_CONF
  env "$java_var=$java_home" "$opts_var=$heap" "$conf_var=$conf" setsid nohup "${run[@]}" \
    env "$java_var=$java_home" "$opts_var=$heap" "$conf_var=$conf" \
    "$home/bin/$kind" -p "$pidfile" "${settings[@]}" >>"$log" 2>&1 </dev/null &
  local launcher=$! i=0
  while [ ! -s "$pidfile" ] && [ $i -lt 90 ]; do
    kill -0 "$launcher" 2>/dev/null || die "$service exited while starting; see its log: $log"
    sleep 1
    i=$((i + 1))
  done
  [ -s "$pidfile" ] || echo "$launcher" >"$pidfile"
  # A cluster node waits for its peers: the caller starts all three, then waits.
  cluster_node "$service" && [ "${WAIT_FOR_CLUSTER:-yes}" = no ] && return 0
  wait_until "$service" "$pidfile" "$log" 240
}

up() { # service
  if [ "$(kind_of "$1")" = kafka ]; then up_kafka "$1"; else up_search "$1"; fi
}

stop() { # service [signal]
  local name=$1 pidfile=$RUN_DIR/$1.pid pid i
  if ! pid_alive "$pidfile"; then rm -f "$pidfile"; return 0; fi
  pid=$(cat "$pidfile")
  if [ "${2:-TERM}" = KILL ]; then
    say "killing $name (pid $pid) with SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
  else
    say "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  rm -f "$pidfile"
}

es_user() { # [SERVICE] add NAME PASSWORD [ROLE] | role NAME ROLE | del NAME
  local service=elasticsearch
  case "${1:-}" in elasticsearch | es9) service=$1 && shift ;; esac
  local conf=$RUN_DIR/$service-config
  [ -d "$conf" ] || die "$service has not been started yet (its config directory is made at start)"
  case "${1:-}" in
  add) users_tool "$service" "$conf" useradd "$2" -p "$3" -r "${4:-superuser}" ;;
  role)
    local current
    current=$(users_tool "$service" "$conf" list "$2" | sed -n 's/^[^:]*: *//p' | tr -d ' ')
    users_tool "$service" "$conf" roles "$2" -a "$3" ${current:+-r "$current"}
    ;;
  del) users_tool "$service" "$conf" userdel "$2" ;;
  *) die "usage: stack/stack.sh user [elasticsearch|es9] add NAME PASSWORD [ROLE] | role NAME ROLE | del NAME" ;;
  esac
}

# Sets a SCRAM-SHA-512 user's password on a running broker (the broker takes one mechanism per request).
scram_user() { # service name password
  [ $# -eq 3 ] || die "usage: stack/stack.sh scram SERVICE NAME PASSWORD"
  kafka_java "$1" kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$(http_port_of "$1")" --alter \
    --add-config "SCRAM-SHA-512=[password=$3]" --entity-type users --entity-name "$2" \
    >>"$LOG_DIR/$1-scram.log" 2>&1 || die "could not set $2's SCRAM password; see $LOG_DIR/$1-scram.log"
}

# `escluster` and `kafkacluster` stand for their three nodes.
expand() {
  local s
  for s in "$@"; do
    case "$s" in
    escluster | kafkacluster) echo "$s-1" "$s-2" "$s-3" ;;
    *) kind_of "$s" >/dev/null && echo "$s" ;;
    esac
  done
}

# Whether two or more nodes of the service's cluster are among those named: then they start
# together and are waited for after (one alone joins its running peers, and is waited for at once).
starts_with_peers() { # service services...
  local service=$1 peers
  shift
  cluster_node "$service" || return 1
  peers=$(tr ' ' '\n' <<<"$*" | grep -c "^${service%-*}-" || true)
  [ "$peers" -gt 1 ]
}

cmd=${1:-}
shift || true
case "$cmd" in
install) install ;;
up)
  install
  services=$(expand ${*:-kafka elasticsearch})
  for s in $services; do
    if starts_with_peers "$s" $services; then WAIT_FOR_CLUSTER=no up "$s"; else up "$s"; fi
  done
  for s in $services; do
    if starts_with_peers "$s" $services; then wait_until "$s" "$RUN_DIR/$s.pid" "$LOG_DIR/$s.log" 240; fi
  done
  ;;
down)
  services=$(expand ${*:-$ALL_SERVICES})
  for s in $services; do stop "$s"; done
  ;;
kill) for s in $(expand "$@"); do stop "$s" KILL; done ;;
status)
  for s in $ALL_SERVICES; do
    if pid_alive "$RUN_DIR/$s.pid"; then
      if answers "$s"; then say "$s: up at $(url_of "$s")"; else say "$s: running, not answering"; fi
    fi
  done
  ;;
user) es_user "$@" ;;
scram) scram_user "$@" ;;
reset)
  "$0" down
  rm -rf "$DATA_DIR" "$RUN_DIR"
  say "data deleted"
  ;;
*)
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
