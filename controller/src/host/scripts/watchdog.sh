#!/bin/sh
# The run's shell functions for its steps' time limits ($S is the state directory; __PERIOD and
# __PERIODS come from watchdogTiming).
#
# One watchdog per run instead of a `timeout` per step: each program started costs a machine
# milliseconds of CPU. The watchdog is a subshell of the runner (a fork) that starts one `sleep`
# per period. It reads which step runs (`step`: its index and the subshell's PID, written by the
# subshell itself from /proc/self/stat) and, once the same step has run for the limit, records it
# in `timedout` and sends TERM to the step and its descendants, then KILL 10 s later to whatever of
# them lives on (`timeout -k 10`'s behaviour). The step counts only while the runner is still its
# parent (a PID reused by anything else is never signalled); descendants are found through /proc,
# as no `ps` or `pkill` can be assumed on a minimal machine. A walk of /proc races with fork: a
# child made behind the walk, and orphaned when its parent dies of the TERM, would escape. So the
# tree is frozen first (STOP, walked again until no new member appears; a stopped process cannot
# fork; see cr_freeze), then signalled and thawed. The KILL goes to the frozen members still
# alive as the same processes (reparented or not) and to everything they started since, frozen
# the same way. Processes a step left running in the background (reparented away from it before
# the limit) are not touched, as with `timeout`'s own process group. The watchdog ends with the
# run (the runner's EXIT trap stops it; if the runner is killed, it notices within a period).
#
# shellcheck disable=SC2154 # S is set by the runner
# shellcheck disable=SC2086 # $cr_all and ${cr_l##*) } are split into words on purpose
# shellcheck disable=SC2034 # cr_c, cr_t, cr_f, n and go are the runner's, unset here
#
# In a step's subshell: say which step this process is, then leave no trace of the runner.
cr_step() { read -r cr_p cr_l < /proc/self/stat && echo "$1 $cr_p" > "$S/step"; unset -f begin fail finish cr_freeze cr_alive cr_watch; unset S cr_p cr_l cr_f cr_wd cr_c cr_t cr_id cr_b n go; }
# Stops the processes $cr_roots and all their descendants: each member is stopped the moment it is
# found, so the walk ends (only members not yet found can still fork) and, once a walk finds no
# new member, nothing of the tree runs. cr_all: the members; cr_keep: each as "pid:start time"
# (field 22 of its stat), so a later signal never reaches a PID reused by someone else.
# /proc/<pid>/stat: "pid (name) state ppid ...", the name may hold spaces and parentheses.
cr_freeze() {
  cr_all=" "; cr_keep=
  for cr_q in $cr_roots; do
    kill -STOP "$cr_q" 2>/dev/null || continue
    { read -r cr_l < "/proc/$cr_q/stat"; } 2>/dev/null || continue
    set -- ${cr_l##*) }; cr_all="$cr_all$cr_q "; cr_keep="$cr_keep $cr_q:${20}"
  done
  cr_new=1
  while [ "$cr_new" = 1 ]; do cr_new=0
    for cr_s in /proc/[0-9]*/stat; do
      { read -r cr_l < "$cr_s"; } 2>/dev/null || continue
      cr_q=${cr_s#/proc/}; cr_q=${cr_q%/stat}
      case "$cr_all" in *" $cr_q "*) continue ;; esac
      set -- ${cr_l##*) }
      case "$cr_all" in *" $2 "*) kill -STOP "$cr_q" 2>/dev/null; cr_all="$cr_all$cr_q "; cr_keep="$cr_keep $cr_q:${20}"; cr_new=1 ;; esac
    done
  done
}
# The members of $cr_keep still alive as the same process (same start time), in cr_roots.
cr_alive() {
  cr_roots=
  for cr_k in $cr_keep; do
    { read -r cr_l < "/proc/${cr_k%%:*}/stat"; } 2>/dev/null || continue
    set -- ${cr_l##*) }; [ "${20}" != "${cr_k#*:}" ] || cr_roots="$cr_roots ${cr_k%%:*}"
  done
}
cr_watch() {
  # $! and not $cr_sl: a TERM between a `sleep &` and the assignment after it still finds that sleep.
  trap 'kill $! 2>/dev/null; exit 0' TERM; trap - EXIT
  cr_seen=; cr_n=0
  while kill -0 "$$" 2>/dev/null; do
    sleep __PERIOD & cr_sl=$!; wait $cr_sl
    cr_i=; cr_p=; { read -r cr_i cr_p < "$S/step"; } 2>/dev/null
    if [ "$cr_i $cr_p" = "$cr_seen" ]; then cr_n=$((cr_n + 1)); else cr_seen="$cr_i $cr_p"; cr_n=1; fi
    # A step seen at more than __PERIODS wake-ups in a row has run its limit.
    # shellcheck disable=SC2170,SC2015 # __PERIODS is filled in with a number; `continue` is the else
    [ "$cr_n" -gt __PERIODS ] && [ -n "$cr_p" ] || continue
    # Only a step whose parent is still the runner.
    { read -r cr_l < "/proc/$cr_p/stat"; } 2>/dev/null || continue
    set -- ${cr_l##*) }; [ "$2" = "$$" ] || continue
    echo "$cr_i" > "$S/timedout"
    cr_roots=$cr_p; cr_freeze; kill -TERM $cr_all 2>/dev/null; kill -CONT $cr_all 2>/dev/null
    sleep 10 & cr_sl=$!; wait $cr_sl
    # What lives on (reparented or not) and whatever it started since: frozen the same way, killed.
    cr_alive; [ -z "$cr_roots" ] || { cr_freeze; kill -KILL $cr_all 2>/dev/null; }
  done
}
