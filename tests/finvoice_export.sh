#!/usr/bin/env bash
# Every settlement the test suites created, exported through the api
# (GET /v1/settlements/{id}/finvoice via HAProxy, as accounts payable would),
# must validate against the Finvoice 3.0 schema. Needs: source .run/stack.env.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
xsd=$root/schemas/finvoice/Finvoice3.0.xsd
[ -f "$xsd" ] || { echo "finvoice-export: no schema at $xsd" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 bad=0
while IFS='|' read -r id org; do
  [ -n "$id" ] || continue
  tok=$(psopctl token --role organiser --org "$org" --ttl 300)
  code=$(curl -s -o "$tmp/$id.xml" -w '%{http_code}' -H "Authorization: Bearer $tok" \
    "$PSOP_API_URL/v1/settlements/$id/finvoice")
  n=$((n + 1))
  if [ "$code" != 200 ]; then
    echo "settlement $id: HTTP $code $(head -c 300 "$tmp/$id.xml")" >&2
    bad=$((bad + 1))
  elif ! xmllint --noout --schema "$xsd" "$tmp/$id.xml" 2>"$tmp/err"; then
    echo "settlement $id: invalid Finvoice: $(head -5 "$tmp/err")" >&2
    bad=$((bad + 1))
  fi
done < <(psql "$PSOP_PG_DSN" -tAc "SELECT id, organiser_id FROM psop.settlements ORDER BY created_at DESC LIMIT 100")
[ "$n" -gt 0 ] || { echo "finvoice-export: no settlements to export (the settlement suites should have made some)" >&2; exit 1; }
echo "$((n - bad)) passed, $bad failed"
[ "$bad" -eq 0 ]
