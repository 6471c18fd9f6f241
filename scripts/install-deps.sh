#!/usr/bin/env bash
# Installs every Debian 12 package the project needs to build, test and run
# the lab. Idempotent: does nothing when all are present, and runs
# `apt-get update` only when something is missing. ATTEST_DEPS_KAFKA=0: no
# JDK, Maven nor broker jars (ops/Dockerfile's image: compose runs Kafka in
# the apache/kafka image).
set -euo pipefail
KAFKA=${ATTEST_DEPS_KAFKA:-1}

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates clang
  libclang-rt-14-dev clang-format
  # libraries
  librdkafka-dev libprotobuf-dev protobuf-compiler libtss2-dev libssl-dev
  libpqxx-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  libboost-dev libboost-system-dev libcurl4-openssl-dev libtomlplusplus-dev
  libcli11-dev nlohmann-json3-dev libjemalloc-dev liblz4-dev
  # runtime parts for tests and the lab
  postgresql postgresql-client swtpm swtpm-tools tpm2-tools openssl
  tinyproxy kcat procps iproute2 xxd docker-compose wrk curl perl
)
# Apache Kafka's broker for the tests, the lab and the fault campaign
# (scripts/kafka.sh; the jars come from Maven Central, ops/kafka/pom.xml)
[ "$KAFKA" = 0 ] || PACKAGES+=(default-jdk-headless maven)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  # The broker's jars: a no-op when they match ops/kafka/pom.xml.
  [ "$KAFKA" = 0 ] || exec "$(dirname "$0")/kafka.sh" fetch
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The lab and tests start their own PostgreSQL clusters; the distribution's
# default cluster is not needed.
[ "$KAFKA" = 0 ] || "$(dirname "$0")/kafka.sh" fetch
