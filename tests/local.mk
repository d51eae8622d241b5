## tests/: the unit tests of common/ and server/ (storage's test-db sits in
## storage/local.mk), the fuzz replay, and the integration scripts (a real berthd and
## real clients), by module; then the benchmarks (not part of make check).

## the harness: each script sources tests/integration/lib.sh (exit 77 = skipped); the
## unit tests share tests/unit/fixture.h
EXTRA_DIST += tests/integration/lib.sh tests/integration/upstream-lib.sh tests/integration/mkimage.py tests/unit/fixture.h tests/unit/server-fixture.h tests/free-port.sh
## the project's entry points (README: run.sh and test.sh; CI: .ci/run)
EXTRA_DIST += scripts/install-deps.sh scripts/build.sh scripts/run.sh scripts/test.sh .ci/run

## ---- common/ ----

## log lines escape what is not printable ASCII (issue 9)
UNIT_TESTS += tests/unit/test-log
check_PROGRAMS += tests/unit/test-log
TESTS += tests/unit/test-log
tests_unit_test_log_SOURCES = tests/unit/test-log.c
tests_unit_test_log_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_log_LDADD = libcommon.la $(CRYPTO_LIBS) $(JANSSON_LIBS) $(CMOCKA_LIBS)

## ---- server/ ----

## server/tls.c is compiled into its test directly
UNIT_TESTS += tests/unit/test-tls
check_PROGRAMS += tests/unit/test-tls
TESTS += tests/unit/test-tls
tests_unit_test_tls_SOURCES = tests/unit/test-tls.c server/tls.c server/tls.h
tests_unit_test_tls_CPPFLAGS = $(AM_CPPFLAGS) $(CRYPTO_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_tls_LDADD = libcommon.la $(CRYPTO_LIBS) $(CMOCKA_LIBS)

## the server's byte-range parsers
UNIT_TESTS += tests/unit/test-ranges
check_PROGRAMS += tests/unit/test-ranges
TESTS += tests/unit/test-ranges
tests_unit_test_ranges_SOURCES = tests/unit/test-ranges.c server/ranges.c server/ranges.h
tests_unit_test_ranges_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_ranges_LDADD = $(CMOCKA_LIBS)
FUZZ_TARGETS += tests/fuzz/fuzz-ranges
tests_fuzz_fuzz_ranges_SOURCES = tests/fuzz/fuzz-ranges.c server/ranges.c
if ENABLE_FUZZERS
tests_fuzz_fuzz_ranges_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
tests_fuzz_fuzz_ranges_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
endif

## the size parser of quotas (common/size.h)
FUZZ_TARGETS += tests/fuzz/fuzz-size
tests_fuzz_fuzz_size_SOURCES = tests/fuzz/fuzz-size.c
tests_fuzz_fuzz_size_LDADD = $(FUZZ_LIBS)
if ENABLE_FUZZERS
tests_fuzz_fuzz_size_CFLAGS = $(FUZZ_CC_FLAGS)
tests_fuzz_fuzz_size_LDFLAGS = $(FUZZ_LD_FLAGS)
endif

## the S3 driver's storage URL and XML readers (storage/s3.c)
FUZZ_TARGETS += tests/fuzz/fuzz-s3
tests_fuzz_fuzz_s3_SOURCES = tests/fuzz/fuzz-s3.c storage/s3.c
tests_fuzz_fuzz_s3_CPPFLAGS = $(AM_CPPFLAGS) $(CURL_CFLAGS)
tests_fuzz_fuzz_s3_LDADD = $(FUZZ_LIBS) $(CURL_LIBS)
if ENABLE_FUZZERS
tests_fuzz_fuzz_s3_CFLAGS = $(FUZZ_CC_FLAGS)
tests_fuzz_fuzz_s3_LDFLAGS = $(FUZZ_LD_FLAGS)
endif

## the token endpoint's form reader
UNIT_TESTS += tests/unit/test-form
check_PROGRAMS += tests/unit/test-form
TESTS += tests/unit/test-form
tests_unit_test_form_SOURCES = tests/unit/test-form.c server/form.c server/form.h
tests_unit_test_form_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_form_LDADD = $(CMOCKA_LIBS)
FUZZ_TARGETS += tests/fuzz/fuzz-form
tests_fuzz_fuzz_form_SOURCES = tests/fuzz/fuzz-form.c server/form.c
if ENABLE_FUZZERS
tests_fuzz_fuzz_form_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
tests_fuzz_fuzz_form_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
endif

## trusted proxies (issue 9): the X-Forwarded-For walk and its CIDR lists (unit test
## and fuzz target)
UNIT_TESTS += tests/unit/test-proxy
check_PROGRAMS += tests/unit/test-proxy
TESTS += tests/unit/test-proxy
tests_unit_test_proxy_SOURCES = tests/unit/test-proxy.c server/proxy.c server/proxy.h
tests_unit_test_proxy_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_proxy_LDADD = $(CMOCKA_LIBS)
FUZZ_TARGETS += tests/fuzz/fuzz-proxy
tests_fuzz_fuzz_proxy_SOURCES = tests/fuzz/fuzz-proxy.c server/proxy.c
if ENABLE_FUZZERS
tests_fuzz_fuzz_proxy_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
tests_fuzz_fuzz_proxy_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
endif

## webhook targets (issue 14): address classes, the allow list, URLs, what a name
## resolves to (loopback only)
UNIT_TESTS += tests/unit/test-ssrf
check_PROGRAMS += tests/unit/test-ssrf
TESTS += tests/unit/test-ssrf
tests_unit_test_ssrf_SOURCES = tests/unit/test-ssrf.c server/ssrf.c server/ssrf.h server/proxy.c server/proxy.h
tests_unit_test_ssrf_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) $(CURL_CFLAGS)
tests_unit_test_ssrf_LDADD = libcommon.la $(CURL_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS) $(CMOCKA_LIBS)

## berthd's route handlers, linked from libberthd.la: the router, and answers through
## libmicrohttpd on loopback inside the test
BERTHD_TEST_LDADD = libberthd.la libauth.la libstore.la libcommon.la $(MHD_LIBS) $(ARGON2_LIBS) \
                    $(SQLITE3_LIBS) $(LIBPQ_LIBS) $(CURL_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS) $(CMOCKA_LIBS)
BERTHD_TEST_CPPFLAGS = $(AM_CPPFLAGS) $(MHD_CFLAGS) $(JANSSON_CFLAGS) $(CMOCKA_CFLAGS)
UNIT_TESTS += tests/unit/test-routes
check_PROGRAMS += tests/unit/test-routes
TESTS += tests/unit/test-routes
tests_unit_test_routes_SOURCES = tests/unit/test-routes.c
tests_unit_test_routes_CPPFLAGS = $(BERTHD_TEST_CPPFLAGS)
tests_unit_test_routes_LDADD = $(BERTHD_TEST_LDADD)
UNIT_TESTS += tests/unit/test-server
check_PROGRAMS += tests/unit/test-server
TESTS += tests/unit/test-server
tests_unit_test_server_SOURCES = tests/unit/test-server.c
tests_unit_test_server_CPPFLAGS = $(BERTHD_TEST_CPPFLAGS) $(SQLITE3_CFLAGS)
tests_unit_test_server_LDADD = $(BERTHD_TEST_LDADD)
UNIT_TESTS += tests/unit/test-server-faults
check_PROGRAMS += tests/unit/test-server-faults
TESTS += tests/unit/test-server-faults
# again in the slow tier, where the gateway is up: its S3 cases run there
SLOW_TESTS += tests/unit/test-server-faults
tests_unit_test_server_faults_SOURCES = tests/unit/test-server-faults.c
tests_unit_test_server_faults_CPPFLAGS = $(BERTHD_TEST_CPPFLAGS) $(SQLITE3_CFLAGS)
tests_unit_test_server_faults_LDADD = $(BERTHD_TEST_LDADD)
# the allocator and the file system calls of berthd's own code, failed on demand
tests_unit_test_server_faults_LDFLAGS = $(AM_LDFLAGS) \
	-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup \
	-Wl,--wrap=asprintf,--wrap=vasprintf,--wrap=write,--wrap=pwrite,--wrap=fsync,--wrap=fdatasync \
	-Wl,--wrap=openat,--wrap=renameat,--wrap=linkat,--wrap=ftruncate,--wrap=mkdirat
## the webhook sender (issue 14) against a receiver in the test on loopback
UNIT_TESTS += tests/unit/test-webhook-send
check_PROGRAMS += tests/unit/test-webhook-send
TESTS += tests/unit/test-webhook-send
tests_unit_test_webhook_send_SOURCES = tests/unit/test-webhook-send.c
tests_unit_test_webhook_send_CPPFLAGS = $(BERTHD_TEST_CPPFLAGS) $(CURL_CFLAGS)
tests_unit_test_webhook_send_LDADD = $(BERTHD_TEST_LDADD)

## fuzz replay: every fuzz target's LLVMFuzzerTestOneInput linked with a plain main
## (tests/fuzz/replay.c) and the regular libraries, run by tests/unit/fuzz-replay.sh on
## the target's seed corpus and regressions (a unit test: also under the sanitizer build)
FUZZ_REPLAY = tests/fuzz/replay-manifest tests/fuzz/replay-digest tests/fuzz/replay-name \
              tests/fuzz/replay-ref tests/fuzz/replay-basic tests/fuzz/replay-ranges \
              tests/fuzz/replay-form tests/fuzz/replay-dockercfg tests/fuzz/replay-challenge \
              tests/fuzz/replay-keyring tests/fuzz/replay-layout tests/fuzz/replay-proxy \
              tests/fuzz/replay-token tests/fuzz/replay-platform tests/fuzz/replay-size \
              tests/fuzz/replay-negotiate tests/fuzz/replay-api tests/fuzz/replay-s3
check_PROGRAMS += $(FUZZ_REPLAY)
UNIT_TESTS += tests/unit/fuzz-replay.sh
TESTS += tests/unit/fuzz-replay.sh
EXTRA_DIST += tests/unit/fuzz-replay.sh tests/fuzz/corpus tests/fuzz/dict tests/fuzz/regressions \
              tests/fuzz/seeds.py tests/fuzz/campaign.sh tests/fuzz/CAMPAIGN.md
REPLAY_COMMON_LIBS = libcommon.la $(CRYPTO_LIBS) $(JANSSON_LIBS)
REPLAY_CLIENT_LIBS = libberthcore.la libcommon.la $(CURL_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS)
tests_fuzz_replay_manifest_SOURCES = tests/fuzz/fuzz-manifest.c tests/fuzz/replay.c
tests_fuzz_replay_manifest_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_replay_manifest_LDADD = $(REPLAY_COMMON_LIBS)
tests_fuzz_replay_digest_SOURCES = tests/fuzz/fuzz-digest.c tests/fuzz/replay.c
tests_fuzz_replay_digest_CPPFLAGS = $(AM_CPPFLAGS)
tests_fuzz_replay_digest_LDADD = $(REPLAY_COMMON_LIBS)
tests_fuzz_replay_name_SOURCES = tests/fuzz/fuzz-name.c tests/fuzz/replay.c
tests_fuzz_replay_name_CPPFLAGS = $(AM_CPPFLAGS)
tests_fuzz_replay_name_LDADD = $(REPLAY_COMMON_LIBS)
tests_fuzz_replay_ref_SOURCES = tests/fuzz/fuzz-ref.c tests/fuzz/replay.c
tests_fuzz_replay_ref_CPPFLAGS = $(AM_CPPFLAGS)
tests_fuzz_replay_ref_LDADD = $(REPLAY_COMMON_LIBS)
tests_fuzz_replay_basic_SOURCES = tests/fuzz/fuzz-basic.c tests/fuzz/replay.c auth/basic.c
tests_fuzz_replay_basic_CPPFLAGS = $(AM_CPPFLAGS) $(SQLITE3_CFLAGS) $(LIBPQ_CFLAGS)
tests_fuzz_replay_basic_LDADD = $(REPLAY_COMMON_LIBS)
tests_fuzz_replay_ranges_SOURCES = tests/fuzz/fuzz-ranges.c tests/fuzz/replay.c server/ranges.c
tests_fuzz_replay_ranges_CPPFLAGS = $(AM_CPPFLAGS)
tests_fuzz_replay_negotiate_SOURCES = tests/fuzz/fuzz-negotiate.c tests/fuzz/replay.c server/negotiate.c
tests_fuzz_replay_negotiate_CPPFLAGS = $(AM_CPPFLAGS)
tests_fuzz_replay_size_SOURCES = tests/fuzz/fuzz-size.c tests/fuzz/replay.c
tests_fuzz_replay_size_CPPFLAGS = $(AM_CPPFLAGS)
tests_fuzz_replay_size_LDADD = $(REPLAY_COMMON_LIBS)
tests_fuzz_replay_s3_SOURCES = tests/fuzz/fuzz-s3.c tests/fuzz/replay.c storage/s3.c
tests_fuzz_replay_s3_CPPFLAGS = $(AM_CPPFLAGS) $(CURL_CFLAGS)
tests_fuzz_replay_s3_LDADD = $(REPLAY_COMMON_LIBS) $(CURL_LIBS)
tests_fuzz_replay_form_SOURCES = tests/fuzz/fuzz-form.c tests/fuzz/replay.c server/form.c
tests_fuzz_replay_form_CPPFLAGS = $(AM_CPPFLAGS)
tests_fuzz_replay_dockercfg_SOURCES = tests/fuzz/fuzz-dockercfg.c tests/fuzz/replay.c
tests_fuzz_replay_dockercfg_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_replay_dockercfg_LDADD = $(REPLAY_CLIENT_LIBS)
tests_fuzz_replay_challenge_SOURCES = tests/fuzz/fuzz-challenge.c tests/fuzz/replay.c
tests_fuzz_replay_challenge_CPPFLAGS = $(AM_CPPFLAGS) $(CURL_CFLAGS)
tests_fuzz_replay_challenge_LDADD = $(REPLAY_CLIENT_LIBS)
tests_fuzz_replay_keyring_SOURCES = tests/fuzz/fuzz-keyring.c tests/fuzz/replay.c
tests_fuzz_replay_keyring_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_replay_keyring_LDADD = $(REPLAY_CLIENT_LIBS)
tests_fuzz_replay_layout_SOURCES = tests/fuzz/fuzz-layout.c tests/fuzz/replay.c
tests_fuzz_replay_layout_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_replay_layout_LDADD = $(REPLAY_CLIENT_LIBS)
tests_fuzz_replay_proxy_SOURCES = tests/fuzz/fuzz-proxy.c tests/fuzz/replay.c server/proxy.c
tests_fuzz_replay_proxy_CPPFLAGS = $(AM_CPPFLAGS)
tests_fuzz_replay_token_SOURCES = tests/fuzz/fuzz-token.c tests/fuzz/replay.c auth/token.c auth/basic.c
tests_fuzz_replay_token_CPPFLAGS = $(AM_CPPFLAGS) $(SQLITE3_CFLAGS) $(CRYPTO_CFLAGS) $(LIBPQ_CFLAGS)
tests_fuzz_replay_token_LDADD = $(REPLAY_COMMON_LIBS)
tests_fuzz_replay_platform_SOURCES = tests/fuzz/fuzz-platform.c tests/fuzz/replay.c client/platform.c
tests_fuzz_replay_platform_CPPFLAGS = $(AM_CPPFLAGS)

## fuzzing (issue 17): the whole request path in-process, berthd's code (libberthd) on
## loopback ports with a fixed clock and a scratch store; the fuzz build compiles the
## server's, storage's and auth's sources into the target so libFuzzer sees their edges
FUZZ_REQUEST_SOURCES = tests/fuzz/fuzz-request.c $(libberthd_la_SOURCES) $(libberthcore_la_SOURCES) $(libstore_la_SOURCES) \
                       $(libauth_la_SOURCES)
FUZZ_REQUEST_CPPFLAGS = $(AM_CPPFLAGS) $(MHD_CFLAGS) $(ARGON2_CFLAGS) $(CRYPTO_CFLAGS) $(SQLITE3_CFLAGS) $(LIBPQ_CFLAGS) \
                        $(JANSSON_CFLAGS) $(CURL_CFLAGS)
FUZZ_TARGETS += tests/fuzz/fuzz-request
tests_fuzz_fuzz_request_SOURCES = $(FUZZ_REQUEST_SOURCES)
# the files generated at build time (the OpenAPI document, the web UI's assets)
nodist_tests_fuzz_fuzz_request_SOURCES = $(nodist_libberthd_la_SOURCES)
tests_fuzz_fuzz_request_CPPFLAGS = $(FUZZ_REQUEST_CPPFLAGS)
if ENABLE_FUZZERS
tests_fuzz_fuzz_request_CFLAGS = $(FUZZ_CC_FLAGS)
tests_fuzz_fuzz_request_LDFLAGS = $(FUZZ_LD_FLAGS)
endif
tests_fuzz_fuzz_request_LDADD = libcommon-fuzz.la $(MHD_LIBS) $(ARGON2_LIBS) $(SQLITE3_LIBS) $(LIBPQ_LIBS) $(CURL_LIBS) \
                                $(CRYPTO_LIBS) $(JANSSON_LIBS)
check_PROGRAMS += tests/fuzz/replay-request
tests_fuzz_replay_request_SOURCES = tests/fuzz/fuzz-request.c tests/fuzz/replay.c
tests_fuzz_replay_request_CPPFLAGS = $(FUZZ_REQUEST_CPPFLAGS)
tests_fuzz_replay_request_LDADD = libberthd.la libauth.la libstore.la libcommon.la $(MHD_LIBS) $(ARGON2_LIBS) \
                                  $(SQLITE3_LIBS) $(LIBPQ_LIBS) $(CURL_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS)

## ---- PostgreSQL (issue 10): the engine matrix ----

## check-slow runs under one PostgreSQL server (tests/pg-server.sh run, BERTH_TEST_PG_*);
## the API, access-control and token scripts with BERTH_TEST_DB=pg, and the metadata
## layer's unit tests with the server's URL (slow tier)
SLOW_TESTS += tests/integration/engine-pg.sh tests/unit/engine-pg-units.sh
EXTRA_DIST += tests/pg-server.sh tests/integration/engine-pg.sh tests/unit/engine-pg-units.sh

## ---- integration: the registry API (server/ and storage/) ----
TESTS += tests/integration/api-core.sh tests/integration/api-v11.sh
EXTRA_DIST += tests/integration/api-common.sh tests/integration/api-core.sh \
              tests/integration/api-v11.sh tests/bench/bench.sh

## abandoned uploads expire
TESTS += tests/integration/upload-expiry.sh
EXTRA_DIST += tests/integration/upload-expiry.sh

## garbage collection, online (issue 11); under load with runs killed midway (slow tier)
TESTS += tests/integration/gc.sh
EXTRA_DIST += tests/integration/gc.sh
SLOW_TESTS += tests/integration/gc-stress.sh
EXTRA_DIST += tests/integration/gc-stress.sh tests/integration/gc_stress.py

## retention and immutability (issue 11): immutable tags refused over HTTP, pull counts
## kept across a restart, retention runs (dry, real, the server's own) and their audit
TESTS += tests/integration/retention.sh
EXTRA_DIST += tests/integration/retention.sh docs/retention.md

## berthd usage against a running server: the distinct blobs of each project
TESTS += tests/integration/usage.sh
EXTRA_DIST += tests/integration/usage.sh
## quotas (issue 11): refusals at the upload's start, at a chunk, at the link, by a
## manifest's size; dedup free; deletes and GC give back; usage --verify exact after
## every phase and after concurrent pushes (BERTH_TEST_DB=pg: on PostgreSQL)
TESTS += tests/integration/quota.sh
EXTRA_DIST += tests/integration/quota.sh
SLOW_TESTS += tests/integration/quota-pg.sh
EXTRA_DIST += tests/integration/quota-pg.sh

## integrity and backup (issue 11): fsck beside a serving berthd, backup during pushes
## and restore, read-only mode
TESTS += tests/integration/fsck.sh tests/integration/backup.sh tests/integration/read-only.sh
EXTRA_DIST += tests/integration/fsck.sh tests/integration/backup.sh tests/integration/read-only.sh \
              tests/integration/storage-lib.sh docs/maintenance.md
## blobs in S3 (issue 16) against the slow tier's Ceph RADOS Gateway (tests/ceph-rgw.sh)
SLOW_TESTS += tests/integration/s3.sh tests/integration/s3-docker.sh
EXTRA_DIST += tests/integration/s3.sh tests/integration/s3-docker.sh tests/integration/s3-lib.sh tests/ceph-rgw.sh docs/s3.md \
        tests/integration/s3_slow_relay.py
## the same three with the metadata in PostgreSQL (slow tier: the run's shared server)
SLOW_TESTS += tests/integration/storage-pg.sh
EXTRA_DIST += tests/integration/storage-pg.sh

## berthd db copy (issue 10): every table copied row for row, a non-empty target
## refused, the copy's table list held against the schema (unit); a berthd on the copy
## serves what was pushed to the original (integration)
UNIT_TESTS += tests/unit/test-dbcopy
check_PROGRAMS += tests/unit/test-dbcopy
TESTS += tests/unit/test-dbcopy
tests_unit_test_dbcopy_SOURCES = tests/unit/test-dbcopy.c
tests_unit_test_dbcopy_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) $(SQLITE3_CFLAGS)
tests_unit_test_dbcopy_LDADD = $(AUTH_TEST_LDADD)
TESTS += tests/integration/db-copy.sh
EXTRA_DIST += tests/integration/db-copy.sh

## hardening: a slow upload wedges nothing (issue 9)
TESTS += tests/integration/harden-uploads.sh
EXTRA_DIST += tests/integration/harden-uploads.sh

## listing at scale (issue 3): 100,000 tags and 20,000 repositories through the API
## (slow tier: `make check-slow`)
SLOW_TESTS += tests/integration/listing-scale.sh
EXTRA_DIST += tests/integration/listing-scale.sh tests/integration/listing_scale.py

## ---- integration: real clients against berthd ----
INTEGRATION_TESTS = tests/integration/skopeo.sh tests/integration/podman.sh \
                    tests/integration/docker.sh
TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += $(INTEGRATION_TESTS)

## ---- integration: auth/ ----

## access-control tests (issue 4): docker login/push/pull, podman/skopeo/ctr with
## credentials, robot tokens, Secrets, cache invalidation, throttling, catalog, mounts
TESTS += tests/integration/auth-docker.sh tests/integration/auth-clients.sh \
         tests/integration/auth-tokens.sh
EXTRA_DIST += tests/integration/auth-lib.sh tests/integration/auth-docker.sh \
              tests/integration/auth-clients.sh tests/integration/auth-tokens.sh

## --auth token (issue 4 follow-up): Bearer challenges and /auth/token with docker
## (anonymous public pull, login), skopeo, ctr --user; a token refused after user passwd
TESTS += tests/integration/auth-token-mode.sh
EXTRA_DIST += tests/integration/auth-token-mode.sh

## issue 9 (items 3, 6, 10): _catalog pages never name a hidden repository, signed
## tokens survive a restart and grant no more than their scope, token issuance is
## rate-limited per address, user and project names never collide
TESTS += tests/integration/harden-tokens.sh
EXTRA_DIST += tests/integration/harden-tokens.sh

## issue 9: nobody locks a user or robot out; verifications off the event loop
TESTS += tests/integration/harden-lockout.sh tests/integration/harden-auth-flood.sh
EXTRA_DIST += tests/integration/harden-lockout.sh tests/integration/harden-auth-flood.sh \
	tests/integration/auth_flood.py

## ---- integration: berthd as a service (connections, TLS, logs, files, metrics, systemd, man) ----

## connection exhaustion (issue 9): idle / slow-header floods, the per-address limit,
## probes under load shedding, X-Forwarded-For through berthd
TESTS += tests/integration/harden-conns.sh
EXTRA_DIST += tests/integration/harden-conns.sh tests/integration/conn_flood.py

## hardening (issue 9): TLS offers TLS 1.3 and, on TLS 1.2, ECDHE with AEAD ciphers only
TESTS += tests/integration/harden-tls.sh
EXTRA_DIST += tests/integration/harden-tls.sh

## hardening (issue 9): no request value forges a log line or an audit row
TESTS += tests/integration/harden-log.sh
EXTRA_DIST += tests/integration/harden-log.sh

## hardening (issue 9): files under DATA 0600, directories 0700, DATA itself tightened
TESTS += tests/integration/harden-modes.sh
EXTRA_DIST += tests/integration/harden-modes.sh

## observability (issue 14): --log-format json, X-Request-Id
TESTS += tests/integration/logs-json.sh
EXTRA_DIST += tests/integration/logs-json.sh

## observability (issue 14): a real Prometheus scrapes --metrics-listen (slow tier:
## needs the prometheus package, `scripts/install-deps.sh slow`)
SLOW_TESTS += tests/integration/metrics.sh
EXTRA_DIST += tests/integration/metrics.sh

## issue 14: webhooks: a loopback receiver gets push, delete and pull events (CloudEvents,
## signed, in order), through a failing receiver and a berthd killed with SIGKILL;
## targets refused when added and when delivered
TESTS += tests/integration/webhooks.sh
EXTRA_DIST += tests/integration/webhooks.sh tests/integration/webhook_receiver.py docs/webhooks.md

## issue 13: the pull-through cache: upstreams docker-registry (TLS, htpasswd), a berthd in
## token mode and a fake one sending a corrupt blob, all on loopback; pulls by tag and
## digest, mirrors (?ns=, registry-mirrors), TTL and HEAD revalidation, single flight,
## stale-if-error, 503, refused pushes, metrics
TESTS += tests/integration/proxy-cache.sh
## blob misses streamed while they arrive (a trickling fake upstream)
TESTS += tests/integration/proxy-stream.sh
EXTRA_DIST += tests/integration/proxy-stream.sh
EXTRA_DIST += tests/integration/proxy-cache.sh docs/proxy-cache.md
## ... and as containerd's mirror of two registries (?ns=), through a containerd
## started here (slow tier: root)
SLOW_TESTS += tests/integration/proxy-mirror.sh
EXTRA_DIST += tests/integration/proxy-mirror.sh
## ... and as a real dockerd's registry-mirrors: `docker pull alpine:3` through the
## --docker-mirror project (slow tier: root, a private dockerd)
SLOW_TESTS += tests/integration/proxy-docker.sh
EXTRA_DIST += tests/integration/proxy-docker.sh

## issue 14: the systemd unit verifies; berthd sends READY=1 and STOPPING=1 itself
TESTS += tests/integration/systemd.sh
EXTRA_DIST += tests/integration/systemd.sh deploy/systemd/berthd.service

## issue 14: man pages from the --help texts, installed with the bash completions
TESTS += tests/integration/man-pages.sh
EXTRA_DIST += tests/integration/man-pages.sh

## ---- integration: client/ (libberth) ----

## libberth installed: make install DESTDIR, a program built with pkg-config against
## it, only berth_ symbols exported
TESTS += tests/integration/libberth-install.sh
EXTRA_DIST += tests/integration/libberth-install.sh

## ---- integration: the web UI (issue 12) ----

## the UI's files over HTTP (curl): redirect, assets, types, caching, gzip, 304s,
## security headers, 404s; also against the sanitized berthd (scripts/test.sh)
TESTS += tests/integration/ui-serve.sh
EXTRA_DIST += tests/integration/ui-serve.sh
## slow tier: the UI in Debian's chromium (headless) driven by puppeteer-core, checked by
## axe-core (npm, pinned by tests/ui/package-lock.json): log in, browse, robot secret,
## roles, audit, delete as maintainer, nothing to delete as reader, log out; screenshots
## in tests/ui-screenshots/ of the build
SLOW_TESTS += tests/integration/ui-browser.sh
EXTRA_DIST += tests/integration/ui-browser.sh tests/ui/browser.mjs tests/ui/package.json \
              tests/ui/package-lock.json
clean-local: clean-ui-screenshots
clean-ui-screenshots:
	rm -rf tests/ui-screenshots
.PHONY: clean-ui-screenshots

## ---- integration: deploy/ ----

## deploy tests: the compose demo on a real dockerd, the Kubernetes manifests (and the
## several-replica overlay), and the kubelet's pull path with a berthd-made
## imagePullSecret (containerd and berth pull)
DEPLOY_TESTS = tests/integration/deploy-k8s.sh tests/integration/deploy-pull-secret.sh \
               tests/integration/deploy-compose.sh
## slow tier: they build a container image, install npm packages, start containerd
SLOW_TESTS += $(DEPLOY_TESTS)
EXTRA_DIST += $(DEPLOY_TESTS) tests/integration/deploy-lib.sh \
              tests/deploy/validate.mjs tests/deploy/package.json tests/deploy/package-lock.json \
              deploy/Dockerfile deploy/healthcheck.sh deploy/docker-compose.yml deploy/demo.sh \
              deploy/.env.example deploy/k8s/kustomization.yaml deploy/k8s/secret-tls.example.yaml \
              deploy/k8s/example-pull-secret.yaml deploy/k8s/example-workload.yaml docs/deploy.md
## the single-replica base (SQLite), applied through deploy/k8s/kustomization.yaml
EXTRA_DIST += deploy/k8s/base/kustomization.yaml deploy/k8s/base/namespace.yaml \
              deploy/k8s/base/secret-admin.yaml deploy/k8s/base/configmap.yaml deploy/k8s/base/pvc.yaml \
              deploy/k8s/base/deployment.yaml deploy/k8s/base/service.yaml
## several replicas on PostgreSQL and a shared volume (issue 10): the kustomize overlay
## deploy/k8s/ha on ../base, rendered and validated by deploy-k8s.sh
EXTRA_DIST += deploy/k8s/ha/kustomization.yaml deploy/k8s/ha/deployment.yaml deploy/k8s/ha/configmap.yaml \
              deploy/k8s/ha/service.yaml deploy/k8s/ha/pvc-shared.yaml deploy/k8s/ha/pvc-delete.yaml \
              deploy/k8s/ha/pdb.yaml deploy/k8s/ha/secret-db.example.yaml docs/replicas.md

## ---- benchmarks (not part of make check) ----

## `make bench`: berthd side by side with the reference registry
bench: berthd$(EXEEXT)
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	BERTHD='$(abs_top_builddir)/berthd$(EXEEXT)' $(SHELL) '$(abs_top_srcdir)/tests/bench/bench.sh'
## authenticated manifest GETs: berthd vs berthd --auth none vs distribution + htpasswd
EXTRA_DIST += tests/bench/auth-bench.sh
## `make bench-gc`: online GC over a store of 100,000 blobs, half garbage, and the push
## throughput during the run (issue 11)
bench-gc: berthd$(EXEEXT)
	top_builddir='$(abs_top_builddir)' $(SHELL) '$(abs_top_srcdir)/tests/bench/gc-bench.sh'
EXTRA_DIST += tests/bench/gc-bench.sh tests/bench/gc_bench.py
## `make bench-db`: SQLite, PostgreSQL and 1-3 replicas behind haproxy side by side
## (manifest GETs, 1 GiB uploads, tags/list pages at 100,000 tags); needs PostgreSQL
## and haproxy (scripts/install-deps.sh slow)
bench-db: berthd$(EXEEXT)
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	BERTHD='$(abs_top_builddir)/berthd$(EXEEXT)' $(SHELL) '$(abs_top_srcdir)/tests/bench/db-bench.sh'
EXTRA_DIST += tests/bench/db-bench.sh
## `make bench-proxy`: the pull-through cache (issue 13): a cold pull through berth vs
## straight from the upstream (docker-registry), a warm pull vs a native project, and
## the upstream requests per warm pull
bench-proxy: berthd$(EXEEXT)
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	BERTHD='$(abs_top_builddir)/berthd$(EXEEXT)' $(SHELL) '$(abs_top_srcdir)/tests/bench/proxy-bench.sh'
EXTRA_DIST += tests/bench/proxy-bench.sh tests/bench/link.py
## `make bench-s3`: a 256 MiB blob pushed and pulled through berthd on the filesystem and
## on S3 (also --s3-redirect) and against the Ceph RADOS Gateway alone (issue 16);
## `make bench-s3 BENCH_MB=1024` the issue's 1 GiB blob (BENCH_ROUNDS: rounds, 3)
BENCH_MB = 256
BENCH_ROUNDS = 3
bench-s3: berthd$(EXEEXT)
	top_builddir='$(abs_top_builddir)' bash '$(abs_top_srcdir)/tests/bench/s3-bench.sh' '$(BENCH_MB)' '$(BENCH_ROUNDS)'
EXTRA_DIST += tests/bench/s3-bench.sh
## `make bench-quota`: push throughput with and without a quota (issue 11), interleaved
bench-quota: berthd$(EXEEXT)
	top_builddir='$(abs_top_builddir)' $(SHELL) '$(abs_top_srcdir)/tests/bench/quota-bench.sh'
EXTRA_DIST += tests/bench/quota-bench.sh
## `make bench-retention`: a retention run over 100,000 tags (filled through the metadata
## API) with berthd serving, and the manifest GET latency before and during it (issue 11)
check_PROGRAMS += tests/bench/retention-fill
tests_bench_retention_fill_SOURCES = tests/bench/retention-fill.c
tests_bench_retention_fill_LDADD = libstore.la libcommon.la $(SQLITE3_LIBS) $(LIBPQ_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS)
bench-retention: berthd$(EXEEXT) tests/bench/retention-fill$(EXEEXT)
	top_builddir='$(abs_top_builddir)' $(SHELL) '$(abs_top_srcdir)/tests/bench/retention-bench.sh'
EXTRA_DIST += tests/bench/retention-bench.sh tests/bench/retention_client.py
## `make bench-ui`: the web UI's tags page on a repository of 100,000 tags (issue 12): the
## API's pages with curl, the page in chromium (needs scripts/install-deps.sh slow)
bench-ui: berthd$(EXEEXT) tests/bench/retention-fill$(EXEEXT)
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' $(SHELL) '$(abs_top_srcdir)/tests/bench/ui-bench.sh'
EXTRA_DIST += tests/bench/ui-bench.sh tests/ui/bench.mjs
## `make bench-api`: the management API's lists at 20,000 repositories and 100,000 tags
## (issue 12), filled through the metadata API
check_PROGRAMS += tests/bench/api-fill
tests_bench_api_fill_SOURCES = tests/bench/api-fill.c
tests_bench_api_fill_LDADD = libstore.la libcommon.la $(SQLITE3_LIBS) $(LIBPQ_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS)
bench-api: berthd$(EXEEXT) tests/bench/api-fill$(EXEEXT)
	top_builddir='$(abs_top_builddir)' $(SHELL) '$(abs_top_srcdir)/tests/bench/api-bench.sh'
EXTRA_DIST += tests/bench/api-bench.sh
EXTRA_DIST += tests/bench/listing-bench.sh tests/bench/catalog-auth-bench.sh \
              tests/bench/auth-flood-bench.sh tests/bench/metrics-bench.sh

## ---- issue 10, server side: choosing the database (--db URL, BERTH_DB) ----

## --db / BERTH_DB values, PostgreSQL URIs redacted for logs, BERTH_DB_PASSWORD_FILE
UNIT_TESTS += tests/unit/test-dbconf
check_PROGRAMS += tests/unit/test-dbconf
TESTS += tests/unit/test-dbconf
tests_unit_test_dbconf_SOURCES = tests/unit/test-dbconf.c server/dbconf.c server/dbconf.h
tests_unit_test_dbconf_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_dbconf_LDADD = libstore.la libcommon.la $(SQLITE3_LIBS) $(LIBPQ_LIBS) $(CRYPTO_LIBS) \
                               $(JANSSON_LIBS) $(CMOCKA_LIBS)

## berthd serve and the admin commands on the database --db or BERTH_DB names; an
## unreachable PostgreSQL fails the start clearly, without its password in the output
TESTS += tests/integration/db-select.sh
EXTRA_DIST += tests/integration/db-select.sh

## ---- issue 10: several replicas (slow tier) ----

## three berthd on one PostgreSQL database and one data directory behind haproxy (TLS
## re-encrypted to the replicas, round robin, /readyz health checks): X-Forwarded-For, a
## chunked upload across the replicas, users, passwords and tokens across them, the API
## scripts, skopeo and docker through the balancer, kill -9 of a replica during a push
## (replicas.sh); PostgreSQL restarted and stopped under load (replicas-pg-restart.sh,
## on a server of its own)
SLOW_TESTS += tests/integration/replicas.sh tests/integration/replicas-pg-restart.sh
EXTRA_DIST += tests/integration/replicas.sh tests/integration/replicas-pg-restart.sh \
              tests/integration/replicas-lib.sh

## the management API (issue 12): every resource, each role's refusals, hidden is
## absent, sessions (cookie attributes, CSRF, logout, expiry), login throttling,
## pagination stable under concurrent pushes; also against the sanitized build
TESTS += tests/integration/mgmt-api.sh
EXTRA_DIST += tests/integration/mgmt-api.sh docs/api.md
UNIT_TESTS += tests/unit/test-api
check_PROGRAMS += tests/unit/test-api
TESTS += tests/unit/test-api
tests_unit_test_api_SOURCES = tests/unit/test-api.c
tests_unit_test_api_CPPFLAGS = $(BERTHD_TEST_CPPFLAGS) $(SQLITE3_CFLAGS) $(LIBPQ_CFLAGS)
tests_unit_test_api_LDADD = $(BERTHD_TEST_LDADD)

## the management API's input parsers (issue 12): JSON bodies, fields, retention
## policies, cursors
FUZZ_TARGETS += tests/fuzz/fuzz-api
tests_fuzz_fuzz_api_SOURCES = tests/fuzz/fuzz-api.c server/api-json.c
tests_fuzz_fuzz_api_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_api_LDADD = $(FUZZ_LIBS)
if ENABLE_FUZZERS
tests_fuzz_fuzz_api_CFLAGS = $(FUZZ_CC_FLAGS)
tests_fuzz_fuzz_api_LDFLAGS = $(FUZZ_LD_FLAGS)
endif
tests_fuzz_replay_api_SOURCES = tests/fuzz/fuzz-api.c tests/fuzz/replay.c server/api-json.c
tests_fuzz_replay_api_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_replay_api_LDADD = $(REPLAY_COMMON_LIBS)
## the OpenAPI document (slow tier: pinned npm packages): valid, served as in the
## repository, and real answers for every operation match its schemas
SLOW_TESTS += tests/integration/mgmt-api-openapi.sh
EXTRA_DIST += tests/integration/mgmt-api-openapi.sh tests/openapi/package.json tests/openapi/package-lock.json \
              tests/openapi/validate.mjs
