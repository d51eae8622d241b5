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
## the project's entry points (README: run.sh and test.sh; CI: .ci/run)
EXTRA_DIST += scripts/install-deps.sh scripts/build.sh scripts/run.sh scripts/test.sh .ci/run

## API tests
TESTS += tests/integration/api-core.sh tests/integration/api-v11.sh
EXTRA_DIST += tests/integration/api-common.sh tests/integration/api-core.sh \
              tests/integration/api-v11.sh tests/bench/bench.sh

## `make bench`: berthd side by side with the reference registry (not part of make check)
bench: berthd$(EXEEXT)
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	BERTHD='$(abs_top_builddir)/berthd$(EXEEXT)' $(SHELL) '$(abs_top_srcdir)/tests/bench/bench.sh'

## listing at scale (issue 3): 100,000 tags and 20,000 repositories through the API
TESTS += tests/integration/listing-scale.sh
EXTRA_DIST += tests/integration/listing-scale.sh tests/integration/listing_scale.py
