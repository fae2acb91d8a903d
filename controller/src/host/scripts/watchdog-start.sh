#!/bin/sh
# Starts the watchdog (watchdog.sh's cr_watch) unless it runs already, and stops it when the run's
# shell exits.
# shellcheck disable=SC2016 # the trap expands cr_wd when it runs
trap '[ -z "${cr_wd-}" ] || kill "$cr_wd" 2>/dev/null' EXIT; [ -n "${cr_wd-}" ] || { cr_watch & cr_wd=$!; }
