#!/usr/bin/env bash
# Look a caller's number up on the SIPSTACK-compatible route, as a dialplan does, and print
# the text answer: the score as d.ddd, then the caller's name (at most 20 ASCII characters).
#
#   SIPSTACK_API=https://portal.example.com/api SIPSTACK_KEY=ssk_live_… SIPSTACK_SECRET=… \
#     examples/lookup.sh +14169671111 [DESTINATION]
#
# SIPSTACK_TYPE picks the lookup type: cnam (the default) or risk (needs DESTINATION, one of
# your numbers). On an error curl exits non-zero and the answer says it in a few words
# (Unauthorized, Payment required, Too many requests).
set -euo pipefail

: "${SIPSTACK_API:?set SIPSTACK_API, e.g. https://portal.example.com/api}"
: "${SIPSTACK_KEY:?set SIPSTACK_KEY, the token key (ssk_live_...)}"
: "${SIPSTACK_SECRET:?set SIPSTACK_SECRET, the token secret}"
number="${1:?usage: lookup.sh NUMBER [DESTINATION]}"
route="${SIPSTACK_API%/}/v1/b/partner/smart-cnam/phoneNumber/${number}"
if [ -n "${2:-}" ]; then
  route="${route}/${2}"
fi

curl --silent --show-error --fail-with-body --max-time 10 \
  --user "${SIPSTACK_KEY}:${SIPSTACK_SECRET}" \
  "${route}?type=${SIPSTACK_TYPE:-cnam}"
echo
