#!/bin/sh
# ApplicationStop: stop the running version before the new one is installed.
# (This script comes from the revision that is installed NOW, not the new one.)
# On a real host: systemctl stop sample-app. Here the "service" is a run file.
# WORKSHOP_INSTANCE_ROOT is the instance's "/" in the workshop cloud (on AWS, leave it empty).
set -e
ROOT="${WORKSHOP_INSTANCE_ROOT:-}"
if [ -f "$ROOT/var/run/sample-app/running" ]; then
  echo "stopping sample app $(cat "$ROOT/var/run/sample-app/running")"
  rm -f "$ROOT/var/run/sample-app/running"
else
  echo "sample app not running"
fi
