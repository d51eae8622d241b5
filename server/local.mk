## server/: berthd
bin_PROGRAMS += berthd
berthd_SOURCES = server/main.c
berthd_CPPFLAGS = $(AM_CPPFLAGS) $(MHD_CFLAGS) $(CRYPTO_CFLAGS) $(SQLITE3_CFLAGS) $(JANSSON_CFLAGS)
berthd_LDADD = libstore.la libcommon.la $(MHD_LIBS) $(SQLITE3_LIBS) $(CRYPTO_LIBS) $(JANSSON_LIBS)
