#!/bin/sh
# What a bootstrap session runs (startAndFollowCommand): starts the runner (the same once-only gate,
# taken by the detached run) and then follows it, in one exec. It prints "started" or "attached",
# progress lines ("<i> <n> <name>" while it follows its own run, "progress <i> <n> <name>" from the
# watch) and finally "exit <code> <step>".
#
# Its stdin is the run's program, in three parts (runInput): a preamble (the state directory and
# the steps' watchdog, started at once), the runner as a shell function (`cr_main() { ... }`:
# parsed, not run), and the line `cr_main`, sent once the start is recorded on the API object. The
# run is a shell reading its commands from that input (`sh -s`), detached (setsid: it survives the
# session, a dropped link and a controller restart). So every process the start needs exists
# before the bootstrap data does: a warm connection runs this while the machine still waits. On
# `cr_main` the run takes the gate and runs the first step. Without `cr_main` (the record failed,
# the session was cut, a warm connection was dropped) the shell reaches the end of its input and
# exits, gate untouched; an upload cut short is an unfinished function, so the shell exits on the
# syntax error, having run nothing.
#
# Following its own run costs nothing while the run lasts: the run is this shell's child, so the
# shell blocks in `wait`, and one `tail -f` streams the progress file. A run started by someone
# else (a racing start, an earlier session) is followed by the watch loop (__WATCH, watch.sh).
umask 077
__STATE_DIR
# "attached" carries who the run was for (the gate's content), so the controller can refuse another
# object's run.
if [ -e __S/started ]; then cat >/dev/null; cr_id=; [ ! -f __S/started ] || { read -r cr_id < __S/started; } 2>/dev/null; printf '%s\n' "attached${cr_id:+ $cr_id}"; else
  # The run appends to it; it exists before anyone follows it.
  : >> __S/progress
  # fd 4: this session's input, handed to the run (an asynchronous list's stdin would be
  # /dev/null). The run keeps neither this session's output nor its error.
  exec 4<&0
  setsid sh -s __S/run.sh <&4 >/dev/null 2>&1 4<&- &
  run=$!
  exec 4<&-
  # The follower ends with the run, never later: killed below when the run ends, and on its own
  # (--pid) when this shell is gone first (a cut session, a killed sshd). It must not wait for its
  # next write to fail: after a cleanup removed the state directory nothing is written again.
  # -F follows the name: a progress file truncated or replaced is read again from its start. A tail
  # without --pid (busybox) refuses the probe, and a loop of builtins follows instead, looking
  # each second whether the run lives. The probe runs while the run waits for its script.
  if tail --pid=$$ -n 0 /dev/null 2>/dev/null; then
    tail -n +1 -F --pid="$run" __S/progress 2>/dev/null &
  else
    # A line read in two parts (written while it was read) is printed whole.
    (exec 3<__S/progress || exit 0; p=; l=; while :; do while IFS= read -r l <&3; do printf '%s\n' "$p$l"; p=; done; p=$p$l; kill -0 "$run" 2>/dev/null || exit 0; sleep 1 >/dev/null; done) &
  fi
  follow=$!
  wait "$run"
  kill "$follow" 2>/dev/null
fi
__WATCH
