#!/bin/sh
# Sent on a bootstrap session's input as it opens (runInput.preamble): the state directory __S, the
# steps' working directory __W (made if missing, as the runner would, under the steps' umask), and
# the watchdog of the steps' time limit (__WATCHDOG, __WATCHDOG_START). For a warm connection this
# happens while the machine waits for its data, so that the start needs no process for them. The
# watchdog stops when the run's shell exits.
# shellcheck disable=SC2034 # S and cr_self are read by the runner that follows on the same input
S=__S; cr_self=
[ -d __W ] || (umask 022; mkdir -p __W) 2>/dev/null
__WATCHDOG
__WATCHDOG_START
