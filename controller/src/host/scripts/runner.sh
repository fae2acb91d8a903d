#!/bin/sh
# The runner: one bootstrap, detached from the SSH session, run once (renderRunner fills it in).
# __S is the state directory, __W the steps' working directory, __LIMIT a step's time limit in
# seconds, __SENTINEL the file whose presence proves success, __ID who the run is for (protocol.ts); the lines __GATE, __WATCHDOG,
# __WATCHDOG_START and __STEPS are replaced by gate.sh, watchdog.sh, watchdog-start.sh (or nothing
# when no step needs it) and the rendered steps.
S=__S
# shellcheck disable=SC2034 # read by the gate
cr_id=__ID
__GATE
# The run's mark, inherited by every step and whatever it starts, also what leaves the run's session
# (setsid, a double fork): the deletion's cleanup stops them by it (kill-run.sh, mode left).
{ read -r cr_a cr_b _ < "$S/run"; } 2>/dev/null; export CAPI_REMOTE_RUN="$cr_a.$cr_b"
exec >>"$S/output.log" 2>&1 </dev/null
# The start made everything above root's only (umask 077); the steps run as cloud-init runs them,
# under 022 (directories and files they create are readable as usual).
umask 022
# shellcheck disable=SC2317 # called by the steps (__STEPS)
# printf, not echo: a step's name comes from the data (a path), and dash's echo reads its backslashes.
begin() { printf '%s %s %s\n' "$1" "$2" "$3" >> "$S/progress"; printf 'capi-remote: step %s/%s: %s\n' "$1" "$2" "$3"; }
__WATCHDOG
# Off the path to the first step: stray uploads of cut sessions go (`rm` only if there are any).
# After a success nothing the run leaves holds the data (L4): the output (a step may print a
# token) and a runner uploaded as a file are removed; after a failure they stay, root's only,
# for the failure's message and whoever looks into it, until the deletion's cleanup (the runner
# as run.sh). `exit` is written last, in one write: whoever sees it non-empty sees the whole line.
# The watchdog stops with the run (the EXIT trap).
finish() { if [ "$1" = 0 ]; then rm -f "$S/output.log" ${cr_self:+"$cr_self"}; elif [ -n "$cr_self" ]; then mv -f "$cr_self" "$S/run.sh" 2>/dev/null; fi; for cr_u in "$S"/run.sh.*; do [ ! -e "$cr_u" ] || rm -f "$S"/run.sh.*; break; done; echo "$1 $2" > "$S/exit"; exit 0; }
# A step the watchdog killed reports __TIMED_OUT, as `timeout` did.
fail() { cr_c=$1; cr_t=; { read -r cr_t < "$S/timedout"; } 2>/dev/null; if [ "$cr_t" = "$2" ]; then cr_c=__TIMED_OUT; echo "capi-remote: step $2 ran over its __LIMIT s and was stopped"; fi; echo "capi-remote: step $2 failed with exit code $cr_c"; finish "$cr_c" "$2"; }
cd __W 2>/dev/null || { mkdir -p __W && cd __W; } || fail $? 0
# Started already when the runner came on the run's input (the preamble).
__WATCHDOG_START
__STEPS
if [ ! -e __SENTINEL ]; then echo "capi-remote: the sentinel file is missing"; finish 1 __SENTINEL_STEP; fi
# Its time is its own: no `date` needed.
echo bootstrapped > "$S/receipt"
finish 0 0
