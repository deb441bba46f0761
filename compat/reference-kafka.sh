#!/usr/bin/env bash
# compat/reference-kafka.sh — reference Apache Kafka (a one-node KRaft broker) beside Strata, for
# checking a client against both.
#
#   reference-kafka.sh start PORT DIR [key=value ...]   writes DIR/server.properties, formats
#       DIR/data (unless Kafka ran there before: then it restarts on that data), starts kafka.Kafka listening on 127.0.0.1:PORT (its controller on a second free
#       loopback port), waits until it serves, and writes its pid to DIR/kafka.pid. Logs go to
#       DIR/server.log (and DIR/kafka.stdout). key=value are Kafka broker settings; they come last
#       in server.properties, so they win over the defaults written here.
#   reference-kafka.sh stop DIR        stops the broker started in DIR (TERM, then KILL after 30 s).
#   reference-kafka.sh lib             prints the directory holding the jars (fetching them first).
#   reference-kafka.sh tool CLASS ARGS...   runs a Kafka command-line tool (e.g.
#       org.apache.kafka.tools.TopicCommand) on those jars, logging only warnings, to stderr.
#
# Jars: compat/reference-kafka/pom.xml names kafka_2.13 and kafka-tools at $KAFKA_VERSION; they
# are copied with `mvn -q dependency:copy-dependencies` (through ~/.m2) into
# ${STRATA_CACHE:-~/.cache/strata}/reference-kafka/<version>/lib once, and reused after.
# Heap: the broker runs with -Xms128m -Xmx512m (KAFKA_HEAP_OPTS overrides), a tool with -Xmx256m
# (KAFKA_TOOL_HEAP_OPTS), which is plenty for the compat scenarios and fits a 2-core CI machine.
set -euo pipefail

REFERENCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/reference-kafka"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$REFERENCE_DIR/pom.xml")"
CACHE_DIR="${STRATA_CACHE:-$HOME/.cache/strata}/reference-kafka/$KAFKA_VERSION"
LIB_DIR="$CACHE_DIR/lib"

die() { echo "reference-kafka: $*" >&2; exit 1; }

ensure_jars() {
  if [[ -f "$LIB_DIR/.complete" ]]; then return 0; fi
  command -v mvn > /dev/null || die "mvn is not installed (apt-get install maven)"
  command -v java > /dev/null || die "java is not installed (Kafka $KAFKA_VERSION needs Java 17+)"
  echo "reference-kafka: fetching Apache Kafka $KAFKA_VERSION jars into $LIB_DIR" >&2
  rm -rf "$LIB_DIR"
  mkdir -p "$LIB_DIR"
  (cd "$REFERENCE_DIR" && mvn -q -B dependency:copy-dependencies -DoutputDirectory="$LIB_DIR" -DincludeScope=runtime) >&2 \
    || die "mvn dependency:copy-dependencies failed"
  [[ -f "$LIB_DIR/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "no kafka_2.13-$KAFKA_VERSION.jar after mvn"
  # Log configurations: the broker logs INFO to DIR/server.log, a tool only warnings to stderr.
  cat > "$CACHE_DIR/tools-log4j2.properties" <<'PROPS'
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
PROPS
  touch "$LIB_DIR/.complete"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_answers() { # port
  (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null
}

cmd_start() {
  [[ $# -ge 2 ]] || die "usage: start PORT DIR [key=value ...]"
  local port="$1" dir="$2"; shift 2
  ensure_jars
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [[ -f "$dir/kafka.pid" ]] && kill -0 "$(cat "$dir/kafka.pid")" 2> /dev/null; then
    die "a broker already runs from $dir (pid $(cat "$dir/kafka.pid"))"
  fi
  local controller_port
  controller_port="$(free_port)"
  while [[ "$controller_port" == "$port" ]]; do controller_port="$(free_port)"; done
  {
    echo "# written by compat/reference-kafka.sh: one-node KRaft, Apache Kafka $KAFKA_VERSION"
    echo "process.roles=broker,controller"
    echo "node.id=1"
    echo "controller.quorum.voters=1@127.0.0.1:$controller_port"
    echo "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port"
    echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port"
    echo "inter.broker.listener.name=PLAINTEXT"
    echo "controller.listener.names=CONTROLLER"
    echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    echo "log.dirs=$dir/data"
    echo "offsets.topic.replication.factor=1"
    echo "offsets.topic.num.partitions=1"
    echo "transaction.state.log.replication.factor=1"
    echo "transaction.state.log.min.isr=1"
    echo "transaction.state.log.num.partitions=1"
    echo "share.coordinator.state.topic.replication.factor=1"
    echo "share.coordinator.state.topic.min.isr=1"
    echo "# Share groups (KIP-932) are a preview in Kafka 4.1, off unless enabled; Strata serves them."
    echo "group.share.enable=true"
    echo "group.initial.rebalance.delay.ms=0"
    echo "# settings given to start:"
    local kv
    for kv in "$@"; do
      [[ "$kv" == *=* ]] || die "not a key=value setting: $kv"
      echo "$kv"
    done
  } > "$dir/server.properties"
  cat > "$dir/log4j2.properties" <<PROPS
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $dir/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
logger.state.name = state.change.logger
logger.state.level = WARN
PROPS
  # A random cluster id in Kafka's form: 16 bytes, URL-safe base64 without padding (it may start
  # with "-", hence --cluster-id=ID).
  local cluster_id
  cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
  # A directory Kafka ran in before is restarted on its data (the benchmark's catch-up reads).
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    java -Xmx256m -Dlog4j2.configurationFile="$CACHE_DIR/tools-log4j2.properties" -cp "$LIB_DIR/*" \
      kafka.tools.StorageTool format --cluster-id="$cluster_id" --config "$dir/server.properties" > "$dir/format.out" 2>&1 \
      || { cat "$dir/format.out" >&2; die "formatting $dir/data failed"; }
  fi
  # shellcheck disable=SC2086
  setsid java ${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m} -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -Dkafka.logs.dir="$dir" \
    -cp "$LIB_DIR/*" kafka.Kafka "$dir/server.properties" \
    > "$dir/kafka.stdout" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" > "$dir/kafka.pid"
  local _
  for _ in $(seq 1 1200); do
    if ! kill -0 "$pid" 2> /dev/null; then
      tail -n 40 "$dir/server.log" "$dir/kafka.stdout" >&2 2> /dev/null || true
      die "Kafka exited during start-up"
    fi
    if port_answers "$port" && grep -q "Kafka Server started" "$dir/server.log" 2> /dev/null; then
      return 0
    fi
    sleep 0.1
  done
  cmd_stop "$dir"
  die "Kafka did not start serving on 127.0.0.1:$port within 120 s"
}

cmd_stop() {
  [[ $# -eq 1 ]] || die "usage: stop DIR"
  local dir="$1" pid _
  [[ -f "$dir/kafka.pid" ]] || return 0
  pid="$(cat "$dir/kafka.pid")"
  if kill -0 "$pid" 2> /dev/null; then
    kill -TERM "$pid" 2> /dev/null || true
    for _ in $(seq 1 300); do
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2> /dev/null || true
  fi
  rm -f "$dir/kafka.pid"
}

cmd_tool() {
  [[ $# -ge 1 ]] || die "usage: tool CLASS ARGS..."
  ensure_jars
  local class="$1"; shift
  # shellcheck disable=SC2086
  exec java ${KAFKA_TOOL_HEAP_OPTS:--Xmx256m} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$CACHE_DIR/tools-log4j2.properties" -cp "$LIB_DIR/*" "$class" "$@"
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  lib) ensure_jars; echo "$LIB_DIR" ;;
  tool) shift; cmd_tool "$@" ;;
  *) die "usage: $0 start PORT DIR [key=value ...] | stop DIR | lib | tool CLASS ARGS..." ;;
esac
