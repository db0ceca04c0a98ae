#!/usr/bin/env bash
# The curl approach for `make bench`: one curl for the token, one per page, the next link found
# with sed. No JSON parsing beyond that: this is the cost of the transfers alone, a lower bound
# for any shell pipeline built on curl.
set -euo pipefail
authority=${AZURE_AUTHORITY_HOST:-https://login.microsoftonline.com}
graph=${SPO_GRAPH_URL:-https://graph.microsoft.com}
ca=(); [ -n "${SPO_CA_FILE:-}" ] && ca=(--cacert "$SPO_CA_FILE")
tok=$(curl -sS "${ca[@]}" --fail \
  --data-urlencode grant_type=client_credentials --data-urlencode "client_id=$AZURE_CLIENT_ID" \
  --data-urlencode "client_secret=$AZURE_CLIENT_SECRET" --data-urlencode "scope=$graph/.default" \
  "$authority/$AZURE_TENANT_ID/oauth2/v2.0/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
url="$graph/v1.0/sites?\$select=id,displayName,webUrl"
page=$(mktemp); trap 'rm -f "$page"' EXIT
while [ -n "$url" ]; do
  curl -sS "${ca[@]}" --fail -H "Authorization: Bearer $tok" -o "$page" "$url"
  url=$(grep -o '"@odata.nextLink":"[^"]*"' "$page" | sed 's/^"@odata.nextLink":"//; s/"$//' || true)
  cat "$page"
done > /dev/null
