#!/usr/bin/env bash
# The real Bicep compiler, from NuGet (Azure.Bicep.CommandLine.linux-x64), at the version pinned
# below, fetched once into ~/.cache/cloudjobs/bicep. Needs the .NET SDK; npm test does not.
#
#   infra/azure/bicep.sh build   compile main.bicep and events.bicep into the committed JSON
#   infra/azure/bicep.sh check   lint (every finding is an error) and fail if the JSON is stale
set -euo pipefail

VERSION=0.49.2
here="$(cd "$(dirname "$0")" && pwd)"
cache="${CLOUDJOBS_BICEP_CACHE:-$HOME/.cache/cloudjobs/bicep}"
bicep="$cache/packages/azure.bicep.commandline.linux-x64/$VERSION/tools/bicep"
templates=(main events)

if [ ! -x "$bicep" ]; then
  if ! command -v dotnet > /dev/null; then
    echo "bicep.sh: the .NET SDK (dotnet) is needed to fetch the Bicep compiler from NuGet" >&2
    exit 1
  fi
  mkdir -p "$cache"
  # A project that only downloads the package: nothing is built.
  cat > "$cache/bicep.csproj" <<PROJECT
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net$(dotnet --version | cut -d. -f1).0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="Azure.Bicep.CommandLine.linux-x64" Version="[$VERSION]" /></ItemGroup>
</Project>
PROJECT
  dotnet restore "$cache/bicep.csproj" --packages "$cache/packages" --verbosity quiet
  chmod +x "$bicep"
fi
"$bicep" --version

case "${1:-check}" in
  build)
    for name in "${templates[@]}"; do
      "$bicep" build "$here/$name.bicep" --outfile "$here/$name.json"
    done
    ;;
  check)
    failed=0
    for name in "${templates[@]}"; do
      # bicepconfig.json makes every rule an error; a warning of the compiler's own fails too.
      findings="$("$bicep" lint "$here/$name.bicep" 2>&1)" || failed=1
      if [ -n "$findings" ]; then
        echo "$findings" >&2
        failed=1
      fi
      fresh="$(mktemp)"
      "$bicep" build "$here/$name.bicep" --outfile "$fresh"
      if ! cmp -s "$fresh" "$here/$name.json"; then
        echo "infra/azure/$name.json is not what infra/azure/$name.bicep compiles to: run infra/azure/bicep.sh build and commit it" >&2
        diff "$here/$name.json" "$fresh" | head -20 >&2 || true
        failed=1
      fi
      rm -f "$fresh"
    done
    exit "$failed"
    ;;
  *)
    echo "usage: infra/azure/bicep.sh build|check" >&2
    exit 2
    ;;
esac
