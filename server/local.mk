## server/: berthd. Everything but main.c is the convenience library libberthd.la, so
## unit tests link the route handlers, the router and the HTTP glue.
noinst_LTLIBRARIES += libberthd.la
libberthd_la_SOURCES = server/server.h server/config.c server/http.c server/http.h \
                       server/request.c server/reply.c server/routes.c server/blobs.c \
                       server/manifests.c server/listing.c \
                       server/tls.c server/tls.h server/access.c server/token.c
libberthd_la_SOURCES += server/ranges.c server/ranges.h
libberthd_la_SOURCES += server/form.c server/form.h
libberthd_la_SOURCES += server/gc.c server/gc.h
libberthd_la_SOURCES += server/proxy.c server/proxy.h server/conns.c server/conns.h
libberthd_la_SOURCES += server/metrics.c server/metrics.h server/notify.c server/notify.h
libberthd_la_CPPFLAGS = $(AM_CPPFLAGS) $(MHD_CFLAGS) $(ARGON2_CFLAGS) $(CRYPTO_CFLAGS) $(SQLITE3_CFLAGS) \
                        $(JANSSON_CFLAGS)
# libauth.la, libstore.la and libcommon.la are not added here: link them after libberthd.la.
libberthd_la_LIBADD = $(MHD_LIBS) $(ARGON2_LIBS) $(SQLITE3_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS)

bin_PROGRAMS += berthd
berthd_SOURCES = server/main.c
berthd_CPPFLAGS = $(AM_CPPFLAGS) $(MHD_CFLAGS) $(ARGON2_CFLAGS) $(CRYPTO_CFLAGS) $(SQLITE3_CFLAGS) $(JANSSON_CFLAGS)
berthd_LDADD = libberthd.la libauth.la libstore.la libcommon.la $(MHD_LIBS) $(ARGON2_LIBS) $(SQLITE3_LIBS) \
               $(CRYPTO_LIBS) $(JANSSON_LIBS)
