#!/usr/bin/env bash
# 100,000 tags and 20,000 repositories pushed through the API; every page of
# tags/list and _catalog must be complete, ordered and linked.
. "$(dirname "$0")/lib.sh"
berth_require python3 curl
berth_tmpdir
berth_start
step "filling and walking (tags=${BERTH_SCALE_TAGS:-100000} repos=${BERTH_SCALE_REPOS:-20000})"
python3 "$BERTH_IT_DIR/listing_scale.py" "$BERTH_URL" "$BERTH_CA" \
        --tags "${BERTH_SCALE_TAGS:-100000}" --repos "${BERTH_SCALE_REPOS:-20000}" --page 1000 \
        || fail "listing check failed"
berth_stop
pass "every page complete, ordered and linked"
