# azd preprovision hook (Windows): see preprovision.sh.
$ErrorActionPreference = 'Stop'

if (@('true', '1', 'yes') -contains "$env:CLOUDJOBS_DASHBOARD".ToLower()) {
  if (-not $env:CLOUDJOBS_ENTRA_CLIENT_ID -or -not $env:CLOUDJOBS_ENTRA_CLIENT_SECRET) {
    Write-Error ("cloudjobs: CLOUDJOBS_DASHBOARD needs Microsoft Entra sign-in: set CLOUDJOBS_ENTRA_CLIENT_ID and " +
      "CLOUDJOBS_ENTRA_CLIENT_SECRET (azd env set ...), or turn the dashboard off. See docs/deploy.md.")
    exit 1
  }
}

if ($env:CLOUDJOBS_ENTRA_CLIENT_ID -or $env:CLOUDJOBS_API_TOKENS) { exit 0 }

$bytes = New-Object byte[] 32
[System.Security.Cryptography.RandomNumberGenerator]::Fill($bytes)
$token = -join ($bytes | ForEach-Object { $_.ToString('x2') })
azd env set CLOUDJOBS_API_TOKENS "admin:admin=$token"
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
Write-Host "cloudjobs: made an admin API token for this environment."
Write-Host "  Read it with: azd env get-value CLOUDJOBS_API_TOKENS  (the part after 'admin:admin=')"
Write-Host "  Use it as:    Authorization: Bearer <token>"
