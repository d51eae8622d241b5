## common/: digests, name grammar, manifests, logging, errors (server and client)
noinst_LTLIBRARIES += libcommon.la
libcommon_la_SOURCES = common/macro.h common/err.h common/err.c common/log.h common/log.c \
                       common/digest.h common/digest.c common/name.h common/name.c \
                       common/manifest.h common/manifest.c common/file.h common/file.c \
                       common/base64.h common/base64.c \
                       common/secretbox.h common/secretbox.c common/size.h common/size.c
libcommon_la_CPPFLAGS = $(AM_CPPFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
libcommon_la_LIBADD = $(CRYPTO_LIBS) $(JANSSON_LIBS)

UNIT_TESTS = tests/unit/test-digest tests/unit/test-name tests/unit/test-manifest tests/unit/test-file \
             tests/unit/test-base64
check_PROGRAMS += tests/unit/test-digest tests/unit/test-name tests/unit/test-manifest tests/unit/test-file \
                  tests/unit/test-base64
TESTS += tests/unit/test-digest tests/unit/test-name tests/unit/test-manifest tests/unit/test-file \
         tests/unit/test-base64
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
tests_unit_test_base64_SOURCES = tests/unit/test-base64.c
tests_unit_test_base64_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_base64_LDADD = $(COMMON_TEST_LDADD)
tests_unit_test_file_SOURCES = tests/unit/test-file.c
tests_unit_test_file_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_file_LDADD = $(COMMON_TEST_LDADD)

## secrets sealed under a key file (webhook secrets; issue 14)
UNIT_TESTS += tests/unit/test-secretbox
check_PROGRAMS += tests/unit/test-secretbox
TESTS += tests/unit/test-secretbox
tests_unit_test_secretbox_SOURCES = tests/unit/test-secretbox.c
tests_unit_test_secretbox_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_secretbox_LDADD = $(COMMON_TEST_LDADD)

## libFuzzer targets (configure --enable-fuzzers, CC=clang). The library sources are
## compiled a second time into libcommon-fuzz.la with coverage instrumentation
## (-fsanitize=fuzzer-no-link), so the fuzzers see edges inside the parsers; the
## fuzzer runtime itself (-fsanitize=fuzzer, which brings main) is only passed to
## the fuzz programs. The regular libcommon.la and the unit tests stay untouched.
FUZZ_TARGETS = tests/fuzz/fuzz-manifest tests/fuzz/fuzz-digest tests/fuzz/fuzz-name
EXTRA_DIST += tests/fuzz/README.md
if ENABLE_FUZZERS
FUZZ_SAN = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
noinst_LTLIBRARIES += libcommon-fuzz.la
libcommon_fuzz_la_SOURCES = $(libcommon_la_SOURCES)
libcommon_fuzz_la_CPPFLAGS = $(libcommon_la_CPPFLAGS)
libcommon_fuzz_la_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN)
libcommon_fuzz_la_LIBADD = $(libcommon_la_LIBADD)

noinst_PROGRAMS += $(FUZZ_TARGETS)
FUZZ_CC_FLAGS = $(AM_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN)
FUZZ_LD_FLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer $(FUZZ_SAN)
FUZZ_LIBS = libcommon-fuzz.la $(CRYPTO_LIBS) $(JANSSON_LIBS)
tests_fuzz_fuzz_manifest_SOURCES = tests/fuzz/fuzz-manifest.c
tests_fuzz_fuzz_manifest_CFLAGS = $(FUZZ_CC_FLAGS)
tests_fuzz_fuzz_manifest_LDFLAGS = $(FUZZ_LD_FLAGS)
tests_fuzz_fuzz_manifest_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_digest_SOURCES = tests/fuzz/fuzz-digest.c
tests_fuzz_fuzz_digest_CFLAGS = $(FUZZ_CC_FLAGS)
tests_fuzz_fuzz_digest_LDFLAGS = $(FUZZ_LD_FLAGS)
tests_fuzz_fuzz_digest_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_name_SOURCES = tests/fuzz/fuzz-name.c
tests_fuzz_fuzz_name_CFLAGS = $(FUZZ_CC_FLAGS)
tests_fuzz_fuzz_name_LDFLAGS = $(FUZZ_LD_FLAGS)
tests_fuzz_fuzz_name_LDADD = $(FUZZ_LIBS)

fuzz: $(FUZZ_TARGETS)
	@echo "built: $(FUZZ_TARGETS); see tests/fuzz/README.md to run them"
## every target for a few seconds from its seed corpus (FUZZ_SECONDS, default 10)
fuzz-smoke: $(FUZZ_TARGETS)
	$(SHELL) '$(abs_top_srcdir)/tests/fuzz/smoke.sh' '$(abs_top_srcdir)' '$(abs_top_builddir)'
else
fuzz:
	@echo "fuzzers are disabled: reconfigure with CC=clang ./configure --enable-fuzzers, then make fuzz"
fuzz-smoke:
	@echo "fuzzers are disabled: reconfigure with CC=clang ./configure --enable-fuzzers"; exit 1
endif
EXTRA_DIST += tests/fuzz/smoke.sh
