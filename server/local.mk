## server/: berthd. Everything but main.c is the convenience library libberthd.la, so
## unit tests link the route handlers, the router and the HTTP glue.
noinst_LTLIBRARIES += libberthd.la
libberthd_la_SOURCES = server/server.h server/config.c server/http.c server/http.h \
                       server/request.c server/reply.c server/routes.c server/blobs.c \
                       server/manifests.c server/listing.c \
                       server/tls.c server/tls.h server/access.c server/token.c
libberthd_la_SOURCES += server/ranges.c server/ranges.h
libberthd_la_SOURCES += server/form.c server/form.h
libberthd_la_SOURCES += server/gc.c server/gc.h server/periodic.c server/periodic.h server/project.c server/project.h
libberthd_la_SOURCES += server/proxy.c server/proxy.h server/conns.c server/conns.h
libberthd_la_SOURCES += server/metrics.c server/metrics.h server/notify.c server/notify.h
libberthd_la_SOURCES += server/cli-auth.c server/cli-auth.h
libberthd_la_SOURCES += server/cli-db.c server/cli-db.h
libberthd_la_SOURCES += server/dbconf.c server/dbconf.h
libberthd_la_SOURCES += server/ssrf.c server/ssrf.h server/webhook.c server/webhook.h
libberthd_la_SOURCES += server/cli-webhook.c server/cli-webhook.h server/cli-secret.c server/cli-secret.h
libberthd_la_SOURCES += server/cli-usage.c server/cli-usage.h
libberthd_la_SOURCES += server/quota.c server/quota.h
libberthd_la_SOURCES += server/cli-fsck.c server/cli-fsck.h server/cli-storage.c server/cli-storage.h
libberthd_la_SOURCES += server/cli-backup.c server/cli-backup.h
libberthd_la_SOURCES += server/cli-proxy.c server/cli-proxy.h
# the pull-through cache: its upstream client is the pull library's (client/registry.h)
libberthd_la_SOURCES += server/pullthrough.c server/pullthrough.h
# retention and immutability (issue 11): pull counts, the scheduled runs, the commands
libberthd_la_SOURCES += server/pulls.c server/pulls.h server/retention.c server/retention.h
libberthd_la_SOURCES += server/cli-retention.c server/cli-retention.h
# the management API (issue 12): /api/v1/ and its OpenAPI document, compiled in
libberthd_la_SOURCES += server/api.c server/api.h server/api-json.c server/api-json.h server/api-projects.c server/api-repos.c server/api-webhooks.c
nodist_libberthd_la_SOURCES = server/api-openapi.c
BUILT_SOURCES += server/api-openapi.c
CLEANFILES += server/api-openapi.c
EXTRA_DIST += docs/openapi.json scripts/embed.sh
server/api-openapi.c: $(top_srcdir)/docs/openapi.json $(top_srcdir)/scripts/embed.sh
	$(AM_V_GEN)$(MKDIR_P) server && $(SHELL) $(top_srcdir)/scripts/embed.sh api_openapi_json $(top_srcdir)/docs/openapi.json > $@.tmp && mv $@.tmp $@
libberthd_la_CPPFLAGS = $(AM_CPPFLAGS) $(MHD_CFLAGS) $(ARGON2_CFLAGS) $(CRYPTO_CFLAGS) $(SQLITE3_CFLAGS) \
                        $(JANSSON_CFLAGS) $(CURL_CFLAGS)
# libauth.la, libstore.la and libcommon.la are not added here: link them after libberthd.la.
libberthd_la_LIBADD = libberthcore.la $(MHD_LIBS) $(ARGON2_LIBS) $(SQLITE3_LIBS) $(LIBPQ_LIBS) $(CURL_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS)

bin_PROGRAMS += berthd
berthd_SOURCES = server/main.c
berthd_CPPFLAGS = $(AM_CPPFLAGS) $(MHD_CFLAGS) $(ARGON2_CFLAGS) $(CRYPTO_CFLAGS) $(SQLITE3_CFLAGS) $(JANSSON_CFLAGS) \
                  $(CURL_CFLAGS)
berthd_LDADD = libberthd.la libauth.la libstore.la libcommon.la $(MHD_LIBS) $(ARGON2_LIBS) $(SQLITE3_LIBS) $(LIBPQ_LIBS) \
               $(CURL_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS)

## `berthd user|project|token|secret|audit`: the admin commands of auth/ (issue 15)
UNIT_TESTS += tests/unit/test-auth-cli
check_PROGRAMS += tests/unit/test-auth-cli
TESTS += tests/unit/test-auth-cli
tests_unit_test_auth_cli_SOURCES = tests/unit/test-auth-cli.c server/cli-auth.c server/project.c
tests_unit_test_auth_cli_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS) $(SQLITE3_CFLAGS) \
                                    $(JANSSON_CFLAGS)
tests_unit_test_auth_cli_LDADD = $(AUTH_TEST_LDADD)

## the web UI (issue 12): the files of ui/ compiled into berthd (scripts/ui-embed.sh:
## gzip -9n, the build hash, ETags), served by server/ui.c at /ui/; the request headers
## its answers depend on are parsed by server/negotiate.c (unit test and fuzz target)
UI_FILES = ui/index.html ui/assets/app.css ui/assets/favicon.svg ui/assets/app.js ui/assets/api.js \
           ui/assets/dom.js ui/assets/views/login.js ui/assets/views/projects.js \
           ui/assets/views/project.js ui/assets/views/repository.js ui/assets/views/artifact.js \
           ui/assets/views/users.js ui/assets/views/audit.js ui/assets/views/system.js \
           ui/assets/views/account.js ui/assets/views/webhooks.js
libberthd_la_SOURCES += server/ui.c server/ui.h server/negotiate.c server/negotiate.h
nodist_libberthd_la_SOURCES += server/ui-assets.c
CLEANFILES += server/ui-assets.c
EXTRA_DIST += $(UI_FILES) scripts/ui-embed.sh
server/ui-assets.c: $(UI_FILES) $(top_srcdir)/scripts/ui-embed.sh
	$(AM_V_GEN)$(MKDIR_P) server && \
	cd '$(top_srcdir)' && $(SHELL) scripts/ui-embed.sh . '$(abs_top_builddir)/$@' $(UI_FILES)

UNIT_TESTS += tests/unit/test-negotiate
check_PROGRAMS += tests/unit/test-negotiate
TESTS += tests/unit/test-negotiate
tests_unit_test_negotiate_SOURCES = tests/unit/test-negotiate.c server/negotiate.c server/negotiate.h
tests_unit_test_negotiate_CPPFLAGS = $(AM_CPPFLAGS) $(CMOCKA_CFLAGS)
tests_unit_test_negotiate_LDADD = $(CMOCKA_LIBS)
FUZZ_TARGETS += tests/fuzz/fuzz-negotiate
tests_fuzz_fuzz_negotiate_SOURCES = tests/fuzz/fuzz-negotiate.c server/negotiate.c
if ENABLE_FUZZERS
tests_fuzz_fuzz_negotiate_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer
tests_fuzz_fuzz_negotiate_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
endif
