#!/usr/bin/env bash
# compat/java-build.sh — sourced after lib.sh by the scenarios that run Apache Kafka's Java client
# (java.sh, exactly-once.sh) with JAVA_SCENARIO set to the scenario's name: installs Java and
# Maven if missing, builds compat/java once with `mvn -q -B package` (again only when pom.xml or
# a source is newer than the jar; the dependency jars stay in ~/.m2 and target/classpath.txt
# lists them), and defines `run_java CLASS ARGS...` (one JVM per check, under a timeout) and
# KAFKA_CLIENTS_VERSION. A failed build counts as one failed check and ends the scenario.
JAVA_DIR="$COMPAT_DIR/java"
JAR="$JAVA_DIR/target/strata-compat-java-1.jar"
CLASSPATH_FILE="$JAVA_DIR/target/classpath.txt"
BROKER_KIND="${BROKER_KIND:-${COMPAT_BROKER:-strata}}"
# Each check also has its own watchdog inside the JVM; this is the last resort.
CHECK_TIMEOUT_S=240

if ! command -v mvn > /dev/null || ! command -v java > /dev/null; then
  echo "  installing openjdk-17-jdk-headless and maven"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless maven > /dev/null
fi

needs_build() {
  [[ -f "$JAR" && -f "$CLASSPATH_FILE" ]] || return 0
  [[ -n "$(find "$JAVA_DIR/pom.xml" "$JAVA_DIR/src" -newer "$JAR" -print -quit)" ]]
}
if needs_build; then
  echo "  building compat/java (mvn package)"
  if ! (cd "$JAVA_DIR" && mvn -q -B package) > "$WORK_DIR/mvn.log" 2>&1; then
    sed 's/^/          /' "$WORK_DIR/mvn.log" | tail -n 40
    FAILED=$((FAILED + 1))
    echo "  FAILED  java build (mvn package in compat/java)"
    finish "$JAVA_SCENARIO"
    exit 1
  fi
  # The jar's time is what the next run compares the sources with.
  touch "$JAR"
fi
JAVA_CP="$JAR:$(cat "$CLASSPATH_FILE")"
KAFKA_CLIENTS_VERSION="$(sed -n 's|.*/kafka-clients-\([0-9][^/]*\)\.jar.*|\1|p' <<< "${JAVA_CP//:/$'\n'}" | head -n 1)"

run_java() { # class args...
  local class="$1"; shift
  timeout -k 10 "$CHECK_TIMEOUT_S" java -cp "$JAVA_CP" "strata.compat.$class" "$@"
}

