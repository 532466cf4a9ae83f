#!/bin/sh
# BeforeInstall: prepare the host (folders, packages) before the files are copied.
set -e
ROOT="${WORKSHOP_INSTANCE_ROOT:-}"
mkdir -p "$ROOT/opt/sample-app" "$ROOT/var/run/sample-app"
echo "ready to install deployment $DEPLOYMENT_ID on ${WORKSHOP_INSTANCE_ID:-$(hostname)}"
