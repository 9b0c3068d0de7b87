# azd postdeploy hook (Windows): see postdeploy.sh.
$ErrorActionPreference = 'Stop'

if (-not (Get-Command az -ErrorAction SilentlyContinue)) {
  Write-Error "cloudjobs: the Azure CLI (az) is needed to subscribe the functions to blob events; install it, run 'az login', then 'azd hooks run postdeploy'."
}
foreach ($name in 'AZURE_SUBSCRIPTION_ID', 'AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_APP_NAME', 'AZURE_EVENT_GRID_TOPIC', 'AZURE_STORAGE_ACCOUNT') {
  if (-not [Environment]::GetEnvironmentVariable($name)) { Write-Error "$name is not set: run azd provision first" }
}

$template = Join-Path $PSScriptRoot '..' 'events.json'
for ($attempt = 1; ; $attempt++) {
  az deployment group create `
    --subscription "$env:AZURE_SUBSCRIPTION_ID" `
    --resource-group "$env:AZURE_RESOURCE_GROUP" `
    --name cloudjobs-events `
    --template-file "$template" `
    --parameters "functionAppName=$env:AZURE_FUNCTION_APP_NAME" "systemTopicName=$env:AZURE_EVENT_GRID_TOPIC" "storageAccountName=$env:AZURE_STORAGE_ACCOUNT" `
    --output none
  if ($LASTEXITCODE -eq 0) { break }
  if ($attempt -ge 5) { Write-Error "cloudjobs: could not subscribe the functions to blob events; run 'azd hooks run postdeploy' to try again." }
  Write-Host "cloudjobs: the functions are not ready for Event Grid yet; trying again in 30 s ($($attempt + 1) of 5)."
  Start-Sleep -Seconds 30
}
Write-Host "cloudjobs: blob events reach the functions (job-inbox uploads start jobs, task logs report tasks)."
