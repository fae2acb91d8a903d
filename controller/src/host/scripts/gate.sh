#!/bin/sh
# The once-only gate, the first line a run executes ($S is its state directory). It is taken by the
# detached process that runs the script, never by an SSH session: a session killed between the gate
# and the start cannot leave a gate without a run.
#
# An exclusive create (`set -C`: O_EXCL), atomic and without starting a process; a `started/`
# directory of earlier versions makes it fail the same. `cr_self` is the uploaded file the run
# reads ($0 when the runner runs as a file; empty when it came as a function on the run's input).
# Through `true`, a regular builtin: a failed redirection of a special builtin such as `:` makes a
# POSIX shell exit on the spot (dash does), and the loser would not clean up after itself. The
# winner says "started" as the first line of the progress file; a losing starter's copy removes
# itself.
# shellcheck disable=SC2154 # S is set by the runner before the gate
cr_self=${cr_self-$0}; set -C; if { true > "$S/started"; } 2>/dev/null; then set +C; echo started >> "$S/progress"; else [ -z "$cr_self" ] || rm -f "$cr_self"; exit 0; fi
