#!/usr/bin/env bash
# Copies the scheduler's shared secret (key `scheduler-token` of the Secret
# ticketgw-secrets) into both PingSources as the CloudEvents extension
# `schedulertoken`, which Knative sends as the header `ce-schedulertoken`.
# Run it after creating or rotating the Secret (then roll the two functions so
# they read the new value).
#
# Usage: infra/knative/set-scheduler-token.sh <namespace> [kubectl context]
set -euo pipefail
ns=${1:?usage: $0 <namespace> [context]}
ctx=${2:+--context "$2"}
# shellcheck disable=SC2086
token=$(kubectl $ctx -n "$ns" get secret ticketgw-secrets -o jsonpath='{.data.scheduler-token}' | base64 -d)
if [ "${#token}" -lt 32 ]; then
  echo "ticketgw-secrets/scheduler-token is missing or shorter than 32 characters" >&2
  exit 1
fi
patch=$(printf '{"spec":{"ceOverrides":{"extensions":{"schedulertoken":"%s"}}}}' "$token")
for ping in booking-expiry-every-minute payments-reconcile-every-minute; do
  # shellcheck disable=SC2086
  kubectl $ctx -n "$ns" patch pingsource "$ping" --type merge -p "$patch" >/dev/null
  echo "pingsource/$ping: scheduler token set"
done
