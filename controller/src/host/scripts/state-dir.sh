#!/bin/sh
# Makes the state directory __S (under the caller's umask 077) only when it is missing: no process
# for a machine that already has it. Its parent, the state root __ROOT, is made root's only even if
# it existed before.
[ -d __S ] || { mkdir -p __S && chmod 0700 __ROOT; } || exit 1
