#!/bin/sh
# azd postdeploy hook: subscribe the app's Event Grid functions to the storage account's events.
# Event Grid checks a function endpoint when the subscription is made, so this runs after the code
# is deployed; it deploys infra/azure/events.json (compiled from events.bicep), which is
# idempotent, every time, so a function added later is subscribed on the next `azd up`.
set -eu

if ! command -v az > /dev/null 2>&1; then
  echo "cloudjobs: the Azure CLI (az) is needed to subscribe the functions to blob events; install it, run 'az login', then 'azd hooks run postdeploy'." >&2
  exit 1
fi

: "${AZURE_SUBSCRIPTION_ID:?is not set: run azd provision first}"
: "${AZURE_RESOURCE_GROUP:?is not set: run azd provision first}"
: "${AZURE_FUNCTION_APP_NAME:?is not set: run azd provision first}"
: "${AZURE_EVENT_GRID_TOPIC:?is not set: run azd provision first}"
: "${AZURE_STORAGE_ACCOUNT:?is not set: run azd provision first}"

template="$(dirname "$0")/../events.json"
attempt=1
# Right after a deployment the host may not have indexed its functions yet: give it a little time.
until az deployment group create \
  --subscription "$AZURE_SUBSCRIPTION_ID" \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --name cloudjobs-events \
  --template-file "$template" \
  --parameters functionAppName="$AZURE_FUNCTION_APP_NAME" \
               systemTopicName="$AZURE_EVENT_GRID_TOPIC" \
               storageAccountName="$AZURE_STORAGE_ACCOUNT" \
  --output none; do
  if [ "$attempt" -ge 5 ]; then
    echo "cloudjobs: could not subscribe the functions to blob events; run 'azd hooks run postdeploy' to try again." >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  echo "cloudjobs: the functions are not ready for Event Grid yet; trying again in 30 s ($attempt of 5)."
  sleep 30
done
echo "cloudjobs: blob events reach the functions (job-inbox uploads start jobs, task logs report tasks)."
