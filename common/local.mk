## common/: digests, name grammar, manifests, logging, errors (server and client)
noinst_LTLIBRARIES += libcommon.la
libcommon_la_SOURCES = common/macro.h common/err.h common/err.c common/log.h common/log.c \
                       common/digest.h common/digest.c common/name.h common/name.c \
                       common/manifest.h common/manifest.c
libcommon_la_CPPFLAGS = $(AM_CPPFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
libcommon_la_LIBADD = $(CRYPTO_LIBS) $(JANSSON_LIBS)

UNIT_TESTS = tests/unit/test-digest tests/unit/test-name tests/unit/test-manifest
check_PROGRAMS += tests/unit/test-digest tests/unit/test-name tests/unit/test-manifest
TESTS += tests/unit/test-digest tests/unit/test-name tests/unit/test-manifest
COMMON_TEST_LDADD = libcommon.la $(CRYPTO_LIBS) $(JANSSON_LIBS) $(CMOCKA_LIBS)
tests_unit_test_digest_SOURCES = tests/unit/test-digest.c
tests_unit_test_digest_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_digest_LDADD = $(COMMON_TEST_LDADD)
tests_unit_test_name_SOURCES = tests/unit/test-name.c
tests_unit_test_name_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_name_LDADD = $(COMMON_TEST_LDADD)
tests_unit_test_manifest_SOURCES = tests/unit/test-manifest.c
tests_unit_test_manifest_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_manifest_LDADD = $(COMMON_TEST_LDADD)
