## client/: the pull library (libberth: libberth.so, <berth/berth.h>, berth.pc) and the
## `berth` CLI. Three layers: the modules (libberthcore), the API over them
## (libberthapi), and the installed shared library made of both plus libcommon, which
## exports exactly the berth_ symbols (client/libberth.sym). The CLI and the unit tests
## link the same objects statically, so `berth` needs no libberth.so at run time.
libcommon_la_SOURCES += common/ref.c common/ref.h

# every client module under the API
noinst_LTLIBRARIES += libberthcore.la
libberthcore_la_SOURCES = client/policy.c client/policy.h \
                          client/dockercfg.c client/dockercfg.h client/yaml.c client/yaml.h \
                          client/keyring.c client/keyring.h \
                          client/backoff.c client/backoff.h client/platform.c client/platform.h \
                          client/layout.c client/layout.h client/registry.c client/registry.h \
                          client/registry-internal.h client/registry-auth.c client/registry-certs.c
libberthcore_la_CPPFLAGS = $(AM_CPPFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS)
libberthcore_la_LIBADD = $(CURL_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS)

# the public API (client/berth.h): client object, decision, download pool, pull, images
noinst_LTLIBRARIES += libberthapi.la
libberthapi_la_SOURCES = client/berth.c client/berth.h client/pull-internal.h client/plan.c \
                         client/download.c client/pull.c client/images.c
libberthapi_la_CPPFLAGS = $(AM_CPPFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS)
BERTH_API_LIBS = libberthapi.la libberthcore.la libcommon.la $(CURL_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS)

# the installed library. -version-info CURRENT:REVISION:AGE (libtool's rules): a release
# that only changes code bumps REVISION; one that adds berth_ functions bumps CURRENT
# and AGE and zeroes REVISION; one that removes or changes any bumps CURRENT, zeroes
# REVISION and AGE. The version script keeps every other symbol local.
lib_LTLIBRARIES += libberth.la
libberth_la_SOURCES =
libberth_la_LIBADD = $(BERTH_API_LIBS)
libberth_la_LDFLAGS = -version-info 0:0:0 -no-undefined \
                      -Wl,--version-script='$(srcdir)/client/libberth.sym'
EXTRA_libberth_la_DEPENDENCIES = client/libberth.sym
# <berth/berth.h>, and the error codes it includes as <berth/common/err.h>
berthincludedir = $(includedir)/berth
berthinclude_HEADERS = client/berth.h
nobase_berthinclude_HEADERS = common/err.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = client/berth.pc
EXTRA_DIST += client/libberth.sym client/berth.pc.in

bin_PROGRAMS += berth
berth_SOURCES = client/main.c
berth_LDADD = $(BERTH_API_LIBS)

CLIENT_TEST_LDADD = libberthcore.la libcommon.la $(CURL_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS) $(CMOCKA_LIBS)
CLIENT_TESTS = tests/unit/test-ref tests/unit/test-policy tests/unit/test-keyring \
               tests/unit/test-dockercfg tests/unit/test-backoff tests/unit/test-platform \
               tests/unit/test-registry tests/unit/test-layout tests/unit/test-yaml \
               tests/unit/test-berth-api
UNIT_TESTS += $(CLIENT_TESTS)
check_PROGRAMS += $(CLIENT_TESTS)
TESTS += $(CLIENT_TESTS)
tests_unit_test_ref_SOURCES = tests/unit/test-ref.c
tests_unit_test_ref_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_ref_LDADD = $(CLIENT_TEST_LDADD)
tests_unit_test_policy_SOURCES = tests/unit/test-policy.c
tests_unit_test_policy_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_policy_LDADD = $(CLIENT_TEST_LDADD)
tests_unit_test_keyring_SOURCES = tests/unit/test-keyring.c
tests_unit_test_keyring_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_keyring_LDADD = $(CLIENT_TEST_LDADD)
tests_unit_test_dockercfg_SOURCES = tests/unit/test-dockercfg.c
tests_unit_test_dockercfg_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_dockercfg_LDADD = $(CLIENT_TEST_LDADD)
tests_unit_test_backoff_SOURCES = tests/unit/test-backoff.c
tests_unit_test_backoff_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_backoff_LDADD = $(CLIENT_TEST_LDADD)
tests_unit_test_platform_SOURCES = tests/unit/test-platform.c
tests_unit_test_platform_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_platform_LDADD = $(CLIENT_TEST_LDADD)
tests_unit_test_registry_SOURCES = tests/unit/test-registry.c
tests_unit_test_registry_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_registry_LDADD = $(CLIENT_TEST_LDADD)
tests_unit_test_layout_SOURCES = tests/unit/test-layout.c
tests_unit_test_layout_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_layout_LDADD = $(CLIENT_TEST_LDADD)
tests_unit_test_yaml_SOURCES = tests/unit/test-yaml.c
tests_unit_test_yaml_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_yaml_LDADD = $(CLIENT_TEST_LDADD)
# the API as a program using it sees it: client/berth.h only
tests_unit_test_berth_api_SOURCES = tests/unit/test-berth-api.c
tests_unit_test_berth_api_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_berth_api_LDADD = $(BERTH_API_LIBS) $(CMOCKA_LIBS)

# integration: a real registry (Debian's docker-registry), skopeo, openssl, python3
CLIENT_IT = tests/integration/client-pull-basic.sh tests/integration/client-multiplatform.sh \
            tests/integration/client-concurrent.sh tests/integration/client-resume.sh \
            tests/integration/client-bearer.sh tests/integration/client-redirect.sh \
            tests/integration/client-berthd.sh
TESTS += $(CLIENT_IT)
EXTRA_DIST += $(CLIENT_IT) tests/integration/client-lib.sh tests/bench/pull-bench.sh docs/berth-pull.md

# libFuzzer targets for the reference parser and the Secret / config.json parser; built
# by `make fuzz` (common/local.mk) with the instrumented libcommon-fuzz.la
FUZZ_TARGETS += tests/fuzz/fuzz-ref tests/fuzz/fuzz-dockercfg
if ENABLE_FUZZERS
tests_fuzz_fuzz_ref_SOURCES = tests/fuzz/fuzz-ref.c
tests_fuzz_fuzz_ref_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
tests_fuzz_fuzz_ref_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_ref_LDADD = libcommon-fuzz.la $(CRYPTO_LIBS) $(JANSSON_LIBS)
tests_fuzz_fuzz_dockercfg_SOURCES = tests/fuzz/fuzz-dockercfg.c client/dockercfg.c client/yaml.c client/keyring.c
tests_fuzz_fuzz_dockercfg_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_dockercfg_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
tests_fuzz_fuzz_dockercfg_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_dockercfg_LDADD = libcommon-fuzz.la $(CRYPTO_LIBS) $(JANSSON_LIBS)
endif
# the WWW-Authenticate parser of the registry client
FUZZ_TARGETS += tests/fuzz/fuzz-challenge
if ENABLE_FUZZERS
tests_fuzz_fuzz_challenge_SOURCES = tests/fuzz/fuzz-challenge.c client/registry.c client/registry-auth.c \
                                    client/registry-certs.c
tests_fuzz_fuzz_challenge_CPPFLAGS = $(AM_CPPFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_challenge_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
tests_fuzz_fuzz_challenge_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_challenge_LDADD = libcommon-fuzz.la $(CURL_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS)
endif

## libFuzzer targets for the keyring (registry keys and globs matched to an image) and
## the local store's index.json; their replays are in tests/local.mk (fuzz replay)
FUZZ_TARGETS += tests/fuzz/fuzz-keyring tests/fuzz/fuzz-layout
if ENABLE_FUZZERS
tests_fuzz_fuzz_keyring_SOURCES = tests/fuzz/fuzz-keyring.c client/dockercfg.c client/yaml.c client/keyring.c
tests_fuzz_fuzz_keyring_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_keyring_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
tests_fuzz_fuzz_keyring_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_keyring_LDADD = libcommon-fuzz.la $(CRYPTO_LIBS) $(JANSSON_LIBS)
tests_fuzz_fuzz_layout_SOURCES = tests/fuzz/fuzz-layout.c client/layout.c
tests_fuzz_fuzz_layout_CPPFLAGS = $(AM_CPPFLAGS) $(CRYPTO_CFLAGS) $(JANSSON_CFLAGS)
tests_fuzz_fuzz_layout_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
tests_fuzz_fuzz_layout_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_layout_LDADD = libcommon-fuzz.la $(CRYPTO_LIBS) $(JANSSON_LIBS)
endif
## the platform a user asks for, ranked against those a registry's index names
FUZZ_TARGETS += tests/fuzz/fuzz-platform
if ENABLE_FUZZERS
tests_fuzz_fuzz_platform_SOURCES = tests/fuzz/fuzz-platform.c client/platform.c
tests_fuzz_fuzz_platform_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
tests_fuzz_fuzz_platform_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
endif
