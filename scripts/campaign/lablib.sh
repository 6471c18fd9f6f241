# shellcheck shell=bash disable=SC2034
# Loads scripts/lab.sh's functions (spawn, stop_group, pgid_of, start_worker,
# wait_for, http_ok, load_state, find_binaries, ...) into the calling shell
# without running its main, so the campaign restarts services exactly the
# way the lab starts them instead of keeping a second copy.
#
# lab.sh computes REPO/LABLIB from its own path, which is /dev/fd/N when it
# is sourced from a pipe: they are set again afterwards. LAB_RUN_DIR and
# LAB_BUILD_DIR must be exported before sourcing this file.
# (A guard `[[ ${BASH_SOURCE[0]} == "$0" ]] && main "$@"` at the end of
# lab.sh would make the sed unnecessary; see docs/faults.md.)
CAMPAIGN_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck disable=SC1090
source <(sed '/^main "\$@"$/d' "$CAMPAIGN_REPO/scripts/lab.sh")
REPO=$CAMPAIGN_REPO
LABLIB=$REPO/scripts/lab
