#!/usr/bin/env bash
# Runs the service: starts PostgreSQL and Redis on 127.0.0.1 (installing Redis if missing),
# applies the migrations, then runs the silo in the foreground (Ctrl+C stops it gracefully).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

bash scripts/deps.sh
# shellcheck disable=SC1091
. .local/env

dotnet build Silo/Silo.csproj --nologo -v q -c Release
dotnet run --project Silo --no-build -c Release -- migrate
echo "[run] silo: http://127.0.0.1:8080/health/live  metrics: http://127.0.0.1:8080/metrics"
exec dotnet run --project Silo --no-build -c Release "$@"
