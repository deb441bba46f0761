#!/usr/bin/env bash
# compat/logship.sh — real log shippers from Debian's packages ship a file into the broker:
# rsyslog (imfile -> omkafka, lz4) and syslog-ng (file() -> kafka-c(), zstd), both with acks=all.
# Each reads a 100,000-line file from its first line into a 3-partition topic; the topic is then
# consumed with kcat and every line must arrive exactly once, byte for byte, in file order within
# each partition. Each shipper is stopped with SIGTERM and must exit cleanly.
#
# Packages. rsyslog and syslog-ng-core conflict in Debian (both provide system-log-daemon), so
# they cannot both be installed, and installing either would replace the machine's own logger.
# This script therefore never installs them: it fetches their .debs with `apt-get download`
# and unpacks them (dpkg-deb -x, no maintainer scripts, so no daemon is started or enabled)
# into ~/.cache/strata-compat/logship/<package set>_<version>/, and installs with apt-get only
# the shared libraries they depend on (librdkafka1, libestr0, libivykis0, ...) and kcat.
# Each shipper runs as a child of this script in its no-fork mode (rsyslogd -n, syslog-ng -F)
# with a private config, pid file, state/spool directory and (syslog-ng) control socket and
# persist file under $WORK_DIR; neither opens /dev/log, the kernel log, the journal or any
# systemd unit, and no system service is started, enabled or touched.
source "$(dirname "$0")/lib.sh"

LINES_TOTAL=100000
DELIVERY_WAIT_S_MAX=120
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/strata-compat/logship"
SHIPPER_PID=""
# LOGSHIP_ONLY="rsyslog" or "syslog-ng" runs one shipper (for debugging); the default runs both.
LOGSHIP_ONLY="${LOGSHIP_ONLY:-}"

# --- packages ---------------------------------------------------------------------------------------
sudo_cmd=()
[[ "$(id -u)" -eq 0 ]] || sudo_cmd=(sudo)
apt_updated=0
apt_update_once() {
  [[ $apt_updated -eq 1 ]] && return 0
  echo "logship: apt-get update"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q > "$WORK_DIR/apt-update.log" 2>&1 \
    || { cat "$WORK_DIR/apt-update.log" >&2; return 1; }
  apt_updated=1
}

candidate_version() { # package -> the version apt would install, empty if apt knows none
  apt-cache policy "$1" 2> /dev/null | sed -n 's/^ *Candidate: //p' | grep -v '^(none)$' || true
}

# The libraries the shippers link against: every plain "Depends:" of the four packages except
# the packages themselves and init-script helpers (the unpacked copies run no init script).
library_dependencies() {
  apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
    --no-enhances --no-pre-depends rsyslog rsyslog-kafka syslog-ng-core syslog-ng-mod-rdkafka \
    | sed -n 's/^  Depends: \([^<>]*\)$/\1/p' | sort -u \
    | grep -vxE 'rsyslog|rsyslog-kafka|syslog-ng-core|syslog-ng-mod-rdkafka|lsb-base|sysvinit-utils|init-system-helpers|debconf'
}

is_installed() { dpkg-query -W -f='${Status}' "$1" 2> /dev/null | grep -q '^install ok installed$'; }

# unpack_debs NAME PACKAGE... — prints the directory holding the unpacked packages.
unpack_debs() {
  local name="$1"; shift
  local version dir tmp
  version="$(candidate_version "$1")"
  if [[ -z "$version" ]]; then apt_update_once >&2; version="$(candidate_version "$1")"; fi
  [[ -n "$version" ]] || { echo "logship: apt knows no package $1" >&2; return 1; }
  dir="$CACHE_DIR/${name}_${version//[^A-Za-z0-9.+-]/_}"
  if [[ ! -f "$dir/.unpacked" ]]; then
    echo "logship: apt-get download $* (unpacked into $dir, not installed)" >&2
    tmp="$(mktemp -d "$WORK_DIR/debs.XXXXXX")"
    # APT::Sandbox::User=root: apt's sandbox user (_apt) cannot write into the root-only $WORK_DIR.
    # This runs inside $(...), where set -e does not reach: every step returns on failure, so
    # a failed download never leaves a directory marked .unpacked.
    (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$@") >&2 \
      || { apt_update_once >&2 && (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$@") >&2; } \
      || { echo "logship: apt-get download $* failed" >&2; return 1; }
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$dir" || return 1; done
    touch "$dir/.unpacked" || return 1
  fi
  echo "$dir"
}

install_requirements() {
  local missing=() dep
  command -v kcat > /dev/null || missing+=(kcat)
  if [[ -z "$(candidate_version rsyslog)" || -z "$(candidate_version syslog-ng-core)" ]]; then apt_update_once; fi
  while read -r dep; do
    is_installed "$dep" || missing+=("$dep")
  done < <(library_dependencies)
  if [[ ${#missing[@]} -gt 0 ]]; then
    apt_update_once
    echo "logship: apt-get install ${missing[*]}"
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
      > "$WORK_DIR/apt-install.log" 2>&1 || { tail -n 30 "$WORK_DIR/apt-install.log" >&2; return 1; }
  fi
  RSYSLOG_ROOT="$(unpack_debs rsyslog rsyslog rsyslog-kafka)"
  SYSLOG_NG_ROOT="$(unpack_debs syslog-ng syslog-ng-core syslog-ng-mod-rdkafka)"
}
install_requirements

RSYSLOGD="$RSYSLOG_ROOT/usr/sbin/rsyslogd"
RSYSLOG_MODULES="$(dirname "$(find "$RSYSLOG_ROOT/usr/lib" -name omkafka.so | head -n 1)")"
SYSLOG_NG="$SYSLOG_NG_ROOT/usr/sbin/syslog-ng"
SYSLOG_NG_LIBS="$SYSLOG_NG_ROOT/usr/lib/syslog-ng"
SYSLOG_NG_MODULES="$(dirname "$(find "$SYSLOG_NG_LIBS" -maxdepth 2 -name libkafka.so | head -n 1)")"

# The unpacked syslog-ng looks for libsyslog-ng-*.so in /usr/lib/syslog-ng (its RUNPATH);
# LD_LIBRARY_PATH, searched first, points it at the unpacked copy instead.
syslog_ng() { LD_LIBRARY_PATH="$SYSLOG_NG_LIBS" "$SYSLOG_NG" "$@"; }

# --- the broker and the input -----------------------------------------------------------------------
# Three partitions so that "in order" is checked per partition, as Kafka promises it.
start_broker num.partitions=3 auto.create.topics.enable=true
# One line naming the clients, "logship clients: <clients> against <bootstrap>", which run.sh puts in RESULTS.md.
echo "logship clients: rsyslog $("$RSYSLOGD" -v | head -n 1 | awk '{print $2}') (omkafka)," \
  "syslog-ng $(syslog_ng --version | sed -n 's/^syslog-ng [0-9]* (\(.*\))$/\1/p' | head -n 1) (kafka-c)," \
  "librdkafka $(dpkg-query -W -f='${Version}' librdkafka1 2> /dev/null | cut -d- -f1) against $BOOTSTRAP"

# Numbered lines of varying length with non-ASCII UTF-8, so a dropped, repeated, reordered,
# truncated or re-encoded line is visible. No control characters: rsyslog escapes them on
# receipt by default (tab becomes "#011"), which is the shipper's business, not the broker's.
INPUT="$WORK_DIR/input.log"
awk -v n="$LINES_TOTAL" 'BEGIN {
  split("debug info warn error", level, " ")
  for (i = 1; i <= n; i++)
    printf "logship %06d host=web-%02d level=%s path=/api/v1/items/%d msg=\"grüße aus Köln, 日志 %d\"%s\n",
      i, i % 17, level[i % 4 + 1], i * 7919 % 100003, i, substr("..........", 1, i % 11)
}' > "$INPUT"

# --- helpers ----------------------------------------------------------------------------------------
render() { # template output work topic
  sed -e "s|@WORK@|$3|g" -e "s|@INPUT@|$INPUT|g" -e "s|@BOOTSTRAP@|$BOOTSTRAP|g" -e "s|@TOPIC@|$4|g" \
    "$COMPAT_DIR/logship/$1" > "$2"
}

topic_count() { # topic -> number of records in the topic now
  timeout 30 kcat -b "$BOOTSTRAP" -C -t "$1" -o beginning -e -q -f '%o\n' 2> /dev/null | wc -l
}

# wait_for_delivery TOPIC: polls once a second until the topic holds $LINES_TOTAL records, the
# shipper has died, or $DELIVERY_WAIT_S_MAX seconds have passed; then waits 3 s more so that a
# late duplicate would still be counted.
wait_for_delivery() {
  local topic="$1" count=0 started=$SECONDS
  while (( SECONDS - started < DELIVERY_WAIT_S_MAX )); do
    count="$(topic_count "$topic")"
    (( count >= LINES_TOTAL )) && break
    (( (SECONDS - started) % 10 == 0 )) && echo "$count records after $((SECONDS - started)) s"
    kill -0 "$SHIPPER_PID" 2> /dev/null || { echo "the shipper exited early"; break; }
    sleep 1
  done
  sleep 3
  count="$(topic_count "$topic")"
  echo "$count records in $topic after $((SECONDS - started)) s"
  [[ "$count" -eq "$LINES_TOTAL" ]]
}

# stop_shipper: SIGTERM, then up to 20 s for a clean exit; the exit status must be 0.
SHIPPER_EXIT=""
stop_shipper() {
  [[ -n "$SHIPPER_PID" ]] || return 0
  local pid="$SHIPPER_PID"
  SHIPPER_PID=""
  kill -TERM "$pid" 2> /dev/null || true
  for _ in $(seq 1 200); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2> /dev/null; then
    echo "pid $pid still running 20 s after SIGTERM; killing it"
    kill -KILL "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
    SHIPPER_EXIT=killed
    return 1
  fi
  SHIPPER_EXIT=0
  wait "$pid" 2> /dev/null || SHIPPER_EXIT=$?
  echo "exit status $SHIPPER_EXIT"
  [[ "$SHIPPER_EXIT" -eq 0 ]]
}
trap 'stop_shipper > /dev/null 2>&1 || true; cleanup' EXIT

# verify_topic TOPIC: every input line exactly once, unchanged, and within each partition in
# file order (offsets increasing with the line number).
verify_topic() {
  local out="$WORK_DIR/$1.records"
  # check() runs this as an if-condition, where set -e does not apply: each step returns itself.
  timeout 60 kcat -b "$BOOTSTRAP" -C -t "$1" -o beginning -e -q -f '%p %o %s\n' > "$out" || return 1
  echo "records per partition: $(cut -d' ' -f1 "$out" | sort -n | uniq -c | awk '{printf "p%s=%s ", $2, $1}')"
  # Same multiset of lines as the input: nothing lost, nothing added, nothing altered.
  cut -d' ' -f3- "$out" | LC_ALL=C sort > "$WORK_DIR/$1.sorted"
  LC_ALL=C sort "$INPUT" > "$WORK_DIR/input.sorted"
  cmp "$WORK_DIR/input.sorted" "$WORK_DIR/$1.sorted" || return 1
  # Exactly once: no line number twice (the multiset check above already implies it; this
  # names the line if not).
  awk '{ if (seen[$4]++) { print "line " $4 " delivered twice"; bad = 1 } } END { exit bad }' "$out" || return 1
  # Per-partition order: kcat prints each partition in offset order; the line numbers must rise.
  awk '{
    if (($1 in last) && $4 + 0 <= last[$1]) { print "partition " $1 " offset " $2 ": line " $4 + 0 " after line " last[$1]; bad = 1 }
    if (($1 in off) && $2 + 0 != off[$1] + 1) { print "partition " $1 ": offset " $2 " after " off[$1]; bad = 1 }
    last[$1] = $4 + 0; off[$1] = $2 + 0
  } END { exit bad }' "$out"
}

no_errors_in() { # log file: fails, showing them, if any line mentions an error or a warning
  ! grep -iE 'error|warn|fail' "$1"
}

topic_has_three_partitions() {
  timeout 30 kcat -b "$BOOTSTRAP" -L -t "$1" | tee /dev/stderr | grep -q "topic \"$1\" with 3 partitions"
}

show_shipper_output() { # work dir: the shipper's own words, for a failed run
  for f in "$1"/stderr "$1"/stdout "$1"/internal.log; do
    [[ -s "$f" ]] && { echo "--- $f"; tail -n 20 "$f"; }
  done
  return 0
}

# --- rsyslog ----------------------------------------------------------------------------------------
if [[ -z "$LOGSHIP_ONLY" || "$LOGSHIP_ONLY" == rsyslog ]]; then
rs_work="$WORK_DIR/rsyslog"
mkdir -p "$rs_work/spool"
render rsyslog.conf.in "$rs_work/rsyslog.conf" "$rs_work" logship-rsyslog
# A command array, not a function: "cmd &" then makes $! the shipper itself, not a subshell.
rsyslogd=("$RSYSLOGD" -f "$rs_work/rsyslog.conf" -M "$RSYSLOG_MODULES" -i "$rs_work/rsyslogd.pid")

check "rsyslog: rsyslogd -N1 accepts the config" "${rsyslogd[@]}" -N1
"${rsyslogd[@]}" -n > "$rs_work/stdout" 2> "$rs_work/stderr" < /dev/null &
SHIPPER_PID=$!
check "rsyslog: omkafka delivers $LINES_TOTAL records (lz4, acks=all) within ${DELIVERY_WAIT_S_MAX} s" \
  wait_for_delivery logship-rsyslog
# rsyslog's own account (impstats, once a second): every line submitted to librdkafka and no
# failure or error counted. Its "acked" counter is not checked: omkafka collects delivery
# reports only when it next produces, so after the last line it lags behind.
omkafka_stats_clean() {
  local line=""
  for _ in $(seq 1 10); do
    line="$(grep 'omkafka: origin=omkafka' "$rs_work/impstats.log" 2> /dev/null | tail -n 1)" || true
    [[ "$line" == *" submitted=$LINES_TOTAL "* ]] && break
    sleep 1
  done
  echo "$line"
  [[ "$line" == *" submitted=$LINES_TOTAL "* ]] || return 1
  # Every failures=, failures_*=, errors_*= counter is 0.
  ! tr ' ' '\n' <<< "$line" | grep -E '^(failures|failures_[a-z_]+|errors_[a-z_]+)=' | grep -v '=0$'
}
check "rsyslog: impstats: omkafka submitted $LINES_TOTAL, no failures or errors" omkafka_stats_clean
check "rsyslog: rsyslogd exits cleanly on SIGTERM" stop_shipper
check "rsyslog: rsyslogd removed its pid file" test ! -e "$rs_work/rsyslogd.pid"
check "rsyslog: rsyslogd logged its exit on signal 15" \
  grep -q 'exiting on signal 15' "$rs_work/internal.log"
# omkafka logs librdkafka's errors (a refused produce, a retried request) to rsyslogd's own log.
check "rsyslog: rsyslogd logged no error or warning" no_errors_in "$rs_work/internal.log"
check "rsyslog: the topic has 3 partitions" topic_has_three_partitions logship-rsyslog
check "rsyslog: every line exactly once, unchanged, in order per partition" verify_topic logship-rsyslog
[[ "$FAILED" -eq 0 ]] || show_shipper_output "$rs_work"
fi

# --- syslog-ng --------------------------------------------------------------------------------------
if [[ -z "$LOGSHIP_ONLY" || "$LOGSHIP_ONLY" == syslog-ng ]]; then
sn_work="$WORK_DIR/syslog-ng"
mkdir -p "$sn_work"
render syslog-ng.conf.in "$sn_work/syslog-ng.conf" "$sn_work" logship-syslog-ng
# Every path absolute: syslog-ng puts relative ones under /var/lib/syslog-ng.
syslogng=(env LD_LIBRARY_PATH="$SYSLOG_NG_LIBS" "$SYSLOG_NG" --module-path="$SYSLOG_NG_MODULES" --no-caps
  -f "$sn_work/syslog-ng.conf" -R "$sn_work/syslog-ng.persist" -c "$sn_work/syslog-ng.ctl" -p "$sn_work/syslog-ng.pid")

failed_before=$FAILED
check "syslog-ng: syslog-ng --syntax-only accepts the config" "${syslogng[@]}" --syntax-only
"${syslogng[@]}" --foreground --stderr > "$sn_work/stdout" 2> "$sn_work/stderr" < /dev/null &
SHIPPER_PID=$!
check "syslog-ng: kafka-c() delivers $LINES_TOTAL records (zstd, acks=all) within ${DELIVERY_WAIT_S_MAX} s" \
  wait_for_delivery logship-syslog-ng
# syslog-ng's own account, through its private control socket: every message written, none dropped.
syslog_ng_stats_clean() {
  local stats
  stats="$(LD_LIBRARY_PATH="$SYSLOG_NG_LIBS" "$SYSLOG_NG_ROOT/usr/sbin/syslog-ng-ctl" stats -c "$sn_work/syslog-ng.ctl")" || return 1
  grep '^dst.kafka;' <<< "$stats"
  grep -q "^dst.kafka;.*;dropped;0\$" <<< "$stats" && grep -q "^dst.kafka;.*;written;$LINES_TOTAL\$" <<< "$stats"
}
check "syslog-ng: syslog-ng-ctl stats: kafka-c() wrote $LINES_TOTAL, dropped 0" syslog_ng_stats_clean
check "syslog-ng: syslog-ng exits cleanly on SIGTERM" stop_shipper
check "syslog-ng: syslog-ng removed its pid file" test ! -e "$sn_work/syslog-ng.pid"
check "syslog-ng: syslog-ng logged its shutdown" grep -q 'syslog-ng shutting down' "$sn_work/stderr"
# With --stderr, syslog-ng's internal messages, kafka-c()'s librdkafka errors among them, go there.
check "syslog-ng: syslog-ng logged no error or warning" no_errors_in "$sn_work/stderr"
check "syslog-ng: the topic has 3 partitions" topic_has_three_partitions logship-syslog-ng
check "syslog-ng: every line exactly once, unchanged, in order per partition" verify_topic logship-syslog-ng
[[ "$FAILED" -eq "$failed_before" ]] || show_shipper_output "$sn_work"
fi

finish logship
