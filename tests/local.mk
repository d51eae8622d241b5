## tests/: unit tests owned here, and the integration scripts (a real berthd and real clients)

## server/tls.c is compiled into its test directly (berthd has no library of its own)
UNIT_TESTS += tests/unit/test-tls
check_PROGRAMS += tests/unit/test-tls
TESTS += tests/unit/test-tls
tests_unit_test_tls_SOURCES = tests/unit/test-tls.c server/tls.c server/tls.h
tests_unit_test_tls_CPPFLAGS = $(AM_CPPFLAGS) $(CRYPTO_CFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_tls_LDADD = libcommon.la $(CRYPTO_LIBS) $(CMOCKA_LIBS)

## integration: each script sources tests/integration/lib.sh; exit 77 = skipped
INTEGRATION_TESTS = tests/integration/skopeo.sh tests/integration/podman.sh \
                    tests/integration/docker.sh
TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += tests/integration/lib.sh tests/integration/mkimage.py $(INTEGRATION_TESTS)
