#!/usr/bin/env bash
# render.sh TEMPLATE OUT [-- COMMAND ARGS...]
# Fills ${NAME} placeholders of a config template from the environment and
# writes OUT (mode 0600, via a temp file + rename); an unset NAME is an
# error. With "-- COMMAND", execs it afterwards: the containers of
# ops/docker-compose.yml render their config this way at start-up, so the
# lab and compose share one set of templates (scripts/lab/config/).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: render.sh TEMPLATE OUT [-- COMMAND ARGS...]" >&2
  exit 2
fi
template=$1 out=$2
trap 'rm -f "$out.tmp.$$"' EXIT
shift 2
umask 077
mkdir -p "$(dirname "$out")"
perl -pe 's/\$\{(\w+)\}/defined $ENV{$1} ? $ENV{$1} : die "render.sh: $ARGV: \${$1} is not set\n"/ge' \
  "$template" >"$out.tmp.$$"
mv -f "$out.tmp.$$" "$out"
if [ $# -gt 0 ] && [ "$1" = "--" ]; then
  shift
  exec "$@"
fi
