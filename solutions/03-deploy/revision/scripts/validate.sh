#!/bin/sh
# ValidateService: is the new version healthy on this host? A non-zero exit fails
# the instance, and CodeDeploy decides (minimum healthy hosts) whether the whole
# deployment fails. This smoke test loads the INSTALLED app and asks GET /health.
set -e
ROOT="${WORKSHOP_INSTANCE_ROOT:-}"
cd "$ROOT/opt/sample-app"
python3 - <<'PY'
import io, json, os
from app.service import App

answer = {}
def start_response(status, headers):
    answer["status"] = status

environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/health", "QUERY_STRING": "",
           "CONTENT_LENGTH": "0", "wsgi.input": io.BytesIO()}
body = json.loads(b"".join(App()(environ, start_response)))
expected = open("VERSION").read().strip()
if not answer["status"].startswith("200") or body.get("version") != expected:
    raise SystemExit(f"unhealthy: {answer['status']} {body}, expected version {expected}")
print(f"healthy: sample app {body['version']} on {os.environ.get('WORKSHOP_INSTANCE_ID', 'this host')}")
PY
