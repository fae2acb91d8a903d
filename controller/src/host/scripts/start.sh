#!/bin/sh
# The provision Job's start (startCommand): starts the runner read from stdin (__BYTES long) unless a
# run for the state directory __S was ever started, and prints "started" or "attached". Exactly
# once, whatever dies when:
# - the script is uploaded to a file of its own (run.sh.__NONCE, a name of its own) and its length checked: a session cut
#   mid-upload leaves a stray file, never a truncated runner;
# - the once-only gate (`started`, created exclusively) is taken by the detached process that then
#   runs the script, not by this session: a session killed between the gate and the start cannot
#   leave a gate without a run. If the session dies before the detached process exists, nothing
#   was started and the next attempt starts it.
# Two starters racing both upload; one detached process wins the gate, the other deletes its copy.
# Stray uploads of cut sessions are removed by the run (its finish), off the path to its start; the
# winner runs its upload where it lies and renames it run.sh when it finishes.
#
# umask: the state directory and the uploaded script (it holds join tokens) are root's only.
umask 077
__STATE_DIR
n=__BYTES
if [ -e __S/started ]; then cat >/dev/null; echo attached; exit 0; fi
cat > __S/run.sh.__NONCE || { rm -f __S/run.sh.__NONCE; exit 1; }
[ "$(wc -c < __S/run.sh.__NONCE)" -eq "$n" ] || { rm -f __S/run.sh.__NONCE; echo truncated; exit 1; }
# The run appends to it; it exists before anyone follows it.
: >> __S/progress
# setsid: the run, in a session of its own, survives the SSH session, a dropped link and a
# controller restart (no SIGHUP reaches it).
setsid sh __S/run.sh.__NONCE >/dev/null 2>&1 </dev/null &
# Return once the gate is taken (by this start or a racing one), so that a watch follows.
i=0; while [ ! -e __S/started ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -e __S/started ] || exit 1
echo started
