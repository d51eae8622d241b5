## auth/: users, credentials, access policy (see issue 4)
noinst_LTLIBRARIES += libauth.la
libauth_la_SOURCES = auth/auth.h auth/auth-internal.h auth/roles.c auth/session.c auth/auth.c auth/audit.c auth/basic.c auth/bearer.c auth/cache.c auth/decide.c auth/password.c auth/throttle.c \
                     auth/admin.c auth/token.c
libauth_la_CPPFLAGS = $(AM_CPPFLAGS) $(SQLITE3_CFLAGS) $(CRYPTO_CFLAGS) $(ARGON2_CFLAGS) \
                      $(JANSSON_CFLAGS)
# libcommon.la is not added here (the server links it once); link it after libauth.la.
libauth_la_LIBADD = $(SQLITE3_LIBS) $(LIBPQ_LIBS) $(CRYPTO_LIBS) $(ARGON2_LIBS) $(JANSSON_LIBS)
EXTRA_DIST += docs/access-control.md

AUTH_TEST_LDADD = libauth.la libstore.la libcommon.la $(SQLITE3_LIBS) $(LIBPQ_LIBS) $(CRYPTO_LIBS) $(ARGON2_LIBS) \
                  $(JANSSON_LIBS) $(CMOCKA_LIBS)
UNIT_TESTS += tests/unit/test-auth
check_PROGRAMS += tests/unit/test-auth
TESTS += tests/unit/test-auth
tests_unit_test_auth_SOURCES = tests/unit/test-auth.c
tests_unit_test_auth_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) $(SQLITE3_CFLAGS)
tests_unit_test_auth_LDADD = $(AUTH_TEST_LDADD)

# The parser is compiled into the target itself so libFuzzer sees its coverage;
# `make fuzz` (common/local.mk) builds every FUZZ_TARGETS entry.
FUZZ_TARGETS += tests/fuzz/fuzz-basic
tests_fuzz_fuzz_basic_SOURCES = tests/fuzz/fuzz-basic.c auth/basic.c
tests_fuzz_fuzz_basic_CPPFLAGS = $(AM_CPPFLAGS) $(SQLITE3_CFLAGS) $(LIBPQ_CFLAGS)
if ENABLE_FUZZERS
tests_fuzz_fuzz_basic_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
tests_fuzz_fuzz_basic_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_basic_LDADD = libcommon-fuzz.la $(CRYPTO_LIBS) $(JANSSON_LIBS)
endif
# the Bearer token decoder and the scope parser (issue 9)
FUZZ_TARGETS += tests/fuzz/fuzz-token
if ENABLE_FUZZERS
tests_fuzz_fuzz_token_SOURCES = tests/fuzz/fuzz-token.c auth/token.c auth/basic.c
tests_fuzz_fuzz_token_CPPFLAGS = $(AM_CPPFLAGS) $(SQLITE3_CFLAGS) $(CRYPTO_CFLAGS) $(LIBPQ_CFLAGS)
tests_fuzz_fuzz_token_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
tests_fuzz_fuzz_token_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_token_LDADD = libcommon-fuzz.la $(CRYPTO_LIBS)
endif
