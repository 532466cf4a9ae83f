#!/bin/sh
# ApplicationStart: start the version that was just installed.
# On a real host: systemctl start sample-app.
set -e
ROOT="${WORKSHOP_INSTANCE_ROOT:-}"
VERSION="$(cat "$ROOT/opt/sample-app/VERSION")"
echo "$VERSION" > "$ROOT/var/run/sample-app/running"
echo "started sample app $VERSION"
