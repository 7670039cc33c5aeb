#!/bin/sh
# Install the Debian tools Hyperion's tests use, if missing: tclsh (Tcl oracle) and socat (pty plumbing).
# As root it runs apt-get; otherwise it prints the command to run.
missing=""
command -v tclsh >/dev/null 2>&1 || missing="$missing tcl8.6"
command -v socat >/dev/null 2>&1 || missing="$missing socat"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "note: missing Debian packages:$missing; install them with: sudo apt-get install$missing" >&2
fi
