# Sourced by the scripts that run against the slow tier's S3 gateway (tests/ceph-rgw.sh),
# after lib.sh: skips without a gateway (fails with BERTH_REQUIRE_ALL=1), then sets
# AWS_* from the gateway's user, EP (its endpoint), BUCKET (a fresh bucket named
# berth-PREFIX-<random>, created here) and STORAGE (berthd's --storage for it under
# reg/), and defines s3 (a signed request of the test's own) and s3_keys.
#   s3_test_setup PREFIX
s3_test_setup() {
        if [ -z "${BERTH_TEST_S3_ENDPOINT:-}" ]; then
                [ "${BERTH_REQUIRE_ALL:-0}" = 1 ] &&
                        fail "no S3 gateway (BERTH_TEST_S3_ENDPOINT; make check-slow starts one)"
                echo "SKIP [$BERTH_TEST_NAME]: no S3 gateway (make check-slow starts one: tests/ceph-rgw.sh)"
                exit 77
        fi
        [ -n "$TMP" ] || berth_tmpdir
        export AWS_ACCESS_KEY_ID=$BERTH_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$BERTH_TEST_S3_SECRET_KEY
        EP=$BERTH_TEST_S3_ENDPOINT
        BUCKET=berth-$1-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
        STORAGE="s3://$BUCKET/reg?endpoint=$EP&region=$BERTH_TEST_S3_REGION"
        [ "$(s3 PUT "/$BUCKET" -o /dev/null -w '%{http_code}')" = 200 ] || fail "cannot create bucket $BUCKET"
}

# s3 METHOD PATH [CURL ARGS...]: a signed request of the test's own, straight to the gateway
s3() {
        local m=$1 p=$2
        shift 2
        curl -sS --max-time 60 --aws-sigv4 "aws:amz:$BERTH_TEST_S3_REGION:s3" \
                --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
                -X "$m" "$@" "$EP$p"
}

# s3_keys PREFIX: the bucket's keys under PREFIX, one a line (the tests' buckets hold
# fewer than 1000 keys; curl's SigV4 cannot sign a prefix query with slashes)
s3_keys() {
        s3 GET "/$BUCKET?list-type=2" | python3 -c 'import sys, re
for k in re.findall(r"<Key>([^<]*)</Key>", sys.stdin.read()):
    if k.startswith(sys.argv[1]): print(k)' "$1"
}
