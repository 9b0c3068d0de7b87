#!/bin/sh
# azd preprovision hook: the app needs a way to know its callers. With no Microsoft Entra app
# registration (CLOUDJOBS_ENTRA_CLIENT_ID) and no API tokens yet, make one admin token, once, and
# keep it in the azd environment (.azure/<env>/.env); provisioning stores it in Key Vault.
set -eu

if [ -n "${CLOUDJOBS_ENTRA_CLIENT_ID:-}" ] || [ -n "${CLOUDJOBS_API_TOKENS:-}" ]; then
  exit 0
fi

token=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
azd env set CLOUDJOBS_API_TOKENS "admin:admin=$token"
echo "cloudjobs: made an admin API token for this environment."
echo "  Read it with: azd env get-value CLOUDJOBS_API_TOKENS  (the part after 'admin:admin=')"
echo "  Use it as:    Authorization: Bearer <token>"
