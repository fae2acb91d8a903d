#!/bin/sh
# The run's shell functions for its steps' time limits ($S is the state directory; __PERIOD and
# __PERIODS come from watchdogTiming).
#
# One watchdog per run instead of a `timeout` per step: each program started costs a machine
# milliseconds of CPU. The watchdog is a subshell of the runner (a fork) that starts one `sleep`
# per period. It reads which step runs (`step`: its index and the subshell's PID, written by the
# subshell itself from /proc/self/stat) and, once the same step has run for the limit, records it
# in `timedout` and sends TERM to the step and its descendants, then KILL 10 s later (`timeout -k
# 10`'s behaviour). A process counts only while the runner is still its parent (a PID reused by
# anything else is never signalled); descendants are found through /proc, as no `ps` or `pkill`
# can be assumed on a minimal machine. Processes a step left running in the background
# (reparented away from it) are not touched, as with `timeout`'s own process group. The watchdog
# ends with the run (the runner's EXIT trap stops it; if the runner is killed, it notices within a
# period).
#
# shellcheck disable=SC2154 # S is set by the runner
# shellcheck disable=SC2086 # $cr_all and ${cr_l##*) } are split into words on purpose
# shellcheck disable=SC2034 # cr_c, cr_t, cr_f, n and go are the runner's, unset here
#
# In a step's subshell: say which step this process is, then leave no trace of the runner.
cr_step() { read -r cr_p cr_l < /proc/self/stat && echo "$1 $cr_p" > "$S/step"; unset -f begin fail finish cr_tree cr_watch; unset S cr_p cr_l cr_f cr_wd cr_c cr_t cr_id cr_b n go; }
# The PIDs of process $1 and its descendants, if the runner is its parent (else nothing).
# /proc/<pid>/stat: "pid (name) state ppid ...", the name may hold spaces and parentheses.
cr_tree() {
  cr_all=; { read -r cr_l < "/proc/$1/stat"; } 2>/dev/null || return 0
  set -- "$1" ${cr_l##*) }; [ "$3" = "$$" ] || return 0
  cr_all=" $1 "; cr_new=1
  while [ "$cr_new" = 1 ]; do cr_new=0
    for cr_s in /proc/[0-9]*/stat; do
      { read -r cr_l < "$cr_s"; } 2>/dev/null || continue
      cr_q=${cr_s#/proc/}; cr_q=${cr_q%/stat}
      case "$cr_all" in *" $cr_q "*) continue ;; esac
      set -- ${cr_l##*) }
      case "$cr_all" in *" $2 "*) cr_all="$cr_all$cr_q "; cr_new=1 ;; esac
    done
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
    cr_tree "$cr_p"; [ -n "$cr_all" ] || continue
    echo "$cr_i" > "$S/timedout"; kill -TERM $cr_all 2>/dev/null
    sleep 10 & cr_sl=$!; wait $cr_sl
    cr_tree "$cr_p"; [ -z "$cr_all" ] || kill -KILL $cr_all 2>/dev/null
  done
}
