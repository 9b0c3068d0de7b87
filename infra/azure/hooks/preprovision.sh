#!/bin/sh
# azd preprovision hook: the app needs a way to know its callers. With no Microsoft Entra app
# registration (CLOUDJOBS_ENTRA_CLIENT_ID) and no API tokens yet, make one admin token, once, and
# keep it in the azd environment (.azure/<env>/.env); provisioning stores it in Key Vault.
set -eu

# The dashboard signs people in with the app registration: without it there would be no way in.
case "${CLOUDJOBS_DASHBOARD:-false}" in
  true | True | TRUE | 1 | yes)
    if [ -z "${CLOUDJOBS_ENTRA_CLIENT_ID:-}" ] || [ -z "${CLOUDJOBS_ENTRA_CLIENT_SECRET:-}" ]; then
      echo "cloudjobs: CLOUDJOBS_DASHBOARD needs Microsoft Entra sign-in: set CLOUDJOBS_ENTRA_CLIENT_ID and" >&2
      echo "  CLOUDJOBS_ENTRA_CLIENT_SECRET (azd env set ...), or turn the dashboard off. See docs/deploy.md." >&2
      exit 1
    fi
    ;;
esac

if [ -n "${CLOUDJOBS_ENTRA_CLIENT_ID:-}" ] || [ -n "${CLOUDJOBS_API_TOKENS:-}" ]; then
  exit 0
fi

token=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
azd env set CLOUDJOBS_API_TOKENS "admin:admin=$token"
echo "cloudjobs: made an admin API token for this environment."
echo "  Read it with: azd env get-value CLOUDJOBS_API_TOKENS  (the part after 'admin:admin=')"
echo "  Use it as:    Authorization: Bearer <token>"
