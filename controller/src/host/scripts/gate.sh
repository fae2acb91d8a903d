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
# winner writes who it runs for into the gate (`cr_id`: the object's UID and start stamp) and says
# "started" as the first line of the progress file; a losing starter's copy removes itself.
# shellcheck disable=SC2154,SC2086 # S and cr_id are set by the runner; stat fields split on purpose
cr_self=${cr_self-$0}; set -C; if { printf '%s\n' "$cr_id" > "$S/started"; } 2>/dev/null; then set +C; echo started >> "$S/progress"; else [ -z "$cr_self" ] || rm -f "$cr_self"; exit 0; fi
# The run's record, for whoever must stop it (kill-run.sh): its session id (setsid made this shell
# a session leader), its start time (a PID reused later starts later) and the boot it belongs to.
# Builtins only: /proc/self is this shell itself.
{ read -r cr_l < /proc/self/stat; read -r cr_b < /proc/sys/kernel/random/boot_id; } 2>/dev/null; set -- ${cr_l##*) }; echo "$4 ${20} $cr_b" > "$S/run"
