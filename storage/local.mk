## storage/: blob store, upload sessions, SQLite metadata
noinst_LTLIBRARIES += libstore.la
libstore_la_SOURCES = storage/store.h storage/store-internal.h storage/store.c storage/upload.c \
                      storage/blobstore.h storage/blobstore.c storage/s3.h storage/s3.c \
                      storage/db.h storage/db-internal.h storage/db.c storage/db-sqlite.c storage/db-pg.c \
                      storage/meta.h storage/meta.c storage/mcache.h storage/mcache.c storage/registry.h storage/registry.c \
                      storage/mpupload.h storage/mpupload.c \
                      storage/dbcopy.h storage/dbcopy.c storage/webhook.h storage/webhook.c \
                      storage/fsck.h storage/fsck.c storage/backup.h storage/backup.c \
                      storage/proxycache.h storage/proxycache.c \
                      storage/usage.h storage/usage-internal.h storage/usage.c \
                      storage/retention.h storage/retention.c \
                      storage/browse.h storage/browse.c
libstore_la_CPPFLAGS = $(AM_CPPFLAGS) $(SQLITE3_CFLAGS) $(LIBPQ_CFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS)
libstore_la_LIBADD = libcommon.la $(SQLITE3_LIBS) $(LIBPQ_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS) $(CURL_LIBS)

UNIT_TESTS += tests/unit/test-store tests/unit/test-meta
check_PROGRAMS += tests/unit/test-store tests/unit/test-meta
TESTS += tests/unit/test-store tests/unit/test-meta
STORE_TEST_LDADD = libstore.la libcommon.la $(SQLITE3_LIBS) $(LIBPQ_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS) $(CURL_LIBS) $(CMOCKA_LIBS)
tests_unit_test_store_SOURCES = tests/unit/test-store.c
tests_unit_test_store_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_store_LDADD = $(STORE_TEST_LDADD)
tests_unit_test_meta_SOURCES = tests/unit/test-meta.c
tests_unit_test_meta_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) $(LIBPQ_CFLAGS)
tests_unit_test_meta_LDADD = $(STORE_TEST_LDADD)
## every metadata write all or nothing when SQLite refuses a statement mid-transaction
UNIT_TESTS += tests/unit/test-meta-faults
check_PROGRAMS += tests/unit/test-meta-faults
TESTS += tests/unit/test-meta-faults
tests_unit_test_meta_faults_SOURCES = tests/unit/test-meta-faults.c
tests_unit_test_meta_faults_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) $(SQLITE3_CFLAGS)
tests_unit_test_meta_faults_LDADD = $(STORE_TEST_LDADD)

## usage and quotas (issue 11): maintained figures equal a recount, quotas refused in
## the link's transaction, on either engine
UNIT_TESTS += tests/unit/test-usage
check_PROGRAMS += tests/unit/test-usage
TESTS += tests/unit/test-usage
tests_unit_test_usage_SOURCES = tests/unit/test-usage.c
tests_unit_test_usage_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_usage_LDADD = $(STORE_TEST_LDADD) -lpthread

## the write protocol (storage/registry.c) without HTTP
UNIT_TESTS += tests/unit/test-registry-store
check_PROGRAMS += tests/unit/test-registry-store
TESTS += tests/unit/test-registry-store
tests_unit_test_registry_store_SOURCES = tests/unit/test-registry-store.c
tests_unit_test_registry_store_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_registry_store_LDADD = $(STORE_TEST_LDADD)

## storage/db: the one metadata layer (migrations from older releases, sticky transactions)
UNIT_TESTS += tests/unit/test-db
check_PROGRAMS += tests/unit/test-db
TESTS += tests/unit/test-db
tests_unit_test_db_SOURCES = tests/unit/test-db.c
tests_unit_test_db_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) $(SQLITE3_CFLAGS) $(LIBPQ_CFLAGS)
tests_unit_test_db_LDADD = $(STORE_TEST_LDADD)

## webhooks (issue 14): targets, the durable queue and its order, claims, retries, the
## log, and the events of manifest pushes and deletes in their own transaction
UNIT_TESTS += tests/unit/test-webhook
check_PROGRAMS += tests/unit/test-webhook
TESTS += tests/unit/test-webhook
tests_unit_test_webhook_SOURCES = tests/unit/test-webhook.c
tests_unit_test_webhook_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_webhook_LDADD = $(STORE_TEST_LDADD)

## fsck (issue 11): damage found and repaired without HTTP, on either engine
UNIT_TESTS += tests/unit/test-fsck
check_PROGRAMS += tests/unit/test-fsck
TESTS += tests/unit/test-fsck
tests_unit_test_fsck_SOURCES = tests/unit/test-fsck.c
tests_unit_test_fsck_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_fsck_LDADD = $(STORE_TEST_LDADD)
## backup and restore (storage/backup.c) on SQLite: refusals and partial cases
UNIT_TESTS += tests/unit/test-backup
check_PROGRAMS += tests/unit/test-backup
TESTS += tests/unit/test-backup
tests_unit_test_backup_SOURCES = tests/unit/test-backup.c
tests_unit_test_backup_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_backup_LDADD = $(STORE_TEST_LDADD)
## pull-through cache (issue 13): proxy rows, tag revalidation times, the ns and
## library/ rules, manifests cached before their references, blob fills
UNIT_TESTS += tests/unit/test-proxycache
check_PROGRAMS += tests/unit/test-proxycache
TESTS += tests/unit/test-proxycache
tests_unit_test_proxycache_SOURCES = tests/unit/test-proxycache.c
tests_unit_test_proxycache_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_proxycache_LDADD = $(STORE_TEST_LDADD)
## retention and immutability (issue 11): pull records, immutable tags, policies and runs
UNIT_TESTS += tests/unit/test-retention
check_PROGRAMS += tests/unit/test-retention
TESTS += tests/unit/test-retention
tests_unit_test_retention_SOURCES = tests/unit/test-retention.c
tests_unit_test_retention_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_retention_LDADD = $(STORE_TEST_LDADD)
## the S3 driver's signer (AWS's published SigV4 examples), storage URL and XML readers
UNIT_TESTS += tests/unit/test-s3
check_PROGRAMS += tests/unit/test-s3
TESTS += tests/unit/test-s3
tests_unit_test_s3_SOURCES = tests/unit/test-s3.c
tests_unit_test_s3_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_s3_LDADD = $(STORE_TEST_LDADD)
## the S3 driver against a scripted HTTP server on 127.0.0.1: retries on 5xx and
## SlowDown, none on 4xx, error mapping, malformed XML, bodies cut short, aborts
UNIT_TESTS += tests/unit/test-s3-http
check_PROGRAMS += tests/unit/test-s3-http
TESTS += tests/unit/test-s3-http
tests_unit_test_s3_http_SOURCES = tests/unit/test-s3-http.c
tests_unit_test_s3_http_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_s3_http_LDADD = $(STORE_TEST_LDADD)
