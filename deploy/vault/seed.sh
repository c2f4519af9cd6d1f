#!/bin/sh
# One-shot init container for the compose stack: writes the demo provider key into the Vault dev server,
# where the gateway reads it through `vault:secret/llm-gateway/providers#anthropic_api_key`.
# The dev server mounts KV v2 at secret/. Needs VAULT_ADDR and VAULT_TOKEN.
set -eu

vault kv put secret/llm-gateway/providers anthropic_api_key="${ANTHROPIC_API_KEY:-sk-ant-demo-simulator}"
vault kv get -field=anthropic_api_key secret/llm-gateway/providers >/dev/null
echo "seeded secret/llm-gateway/providers"
