/* server/tls.h: the server's TLS material. With no certificate configured, berthd
 * keeps a local CA and a server certificate signed by it under DATA/tls/. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* What tls_ensure found and did, for the start-up log. */
typedef struct {
        bool generated;          /* something was written */
        bool ca_generated;       /* a new CA: every client must trust the new ca.crt */
        bool renewed;            /* server.crt re-issued because under 30 days remained */
        bool ca_unconstrained;   /* ca.crt has no name constraints (made by an older
                                  * berthd): it can sign for any name; rotate it */
        bool host_name_left_out; /* the host name is outside the CA's name constraints
                                  * (a container's host name changes): not in server.crt */
        long server_days_left;   /* days until server.crt expires */
        char refused_san[254];   /* on BERTH_ECONFIG: a wanted name outside the CA's
                                  * name constraints ("" if the name is malformed) */
} tls_info_t;

/* Make sure dir holds ca.crt (mode 0644: clients copy it), ca.key, server.crt and
 * server.key (0600), generating with OpenSSL whatever is missing: an EC P-256 CA (10
 * years, pathlen 0, with critical name constraints permitting only the server
 * certificate's DNS names and addresses) and a server certificate signed by it (SAN:
 * localhost, 127.0.0.1, ::1, the host name, plus extra_sans; 1 year). A server
 * certificate that has expired, has under 30 days left, or lacks one of those SANs, is
 * re-issued from the existing CA (with a new key). A wanted name the existing CA may
 * not sign for is refused (BERTH_ECONFIG, ret_info->refused_san, nothing written):
 * the CA changes only when the operator removes it, never behind the clients' back;
 * the host name alone is optional (left out). ret_info (may be NULL) is filled on
 * failure too. Creates dir (0700) if needed. */
int tls_ensure(const char *dir, const char *const *extra_sans, size_t n_extra,
               tls_info_t *ret_info);
/* Read a certificate chain and key (PEM files) into memory for libmicrohttpd,
 * checking that they parse and belong together. Returns 0, -errno or BERTH_ECRYPTO. */
int tls_load_pem(const char *cert_path, const char *key_path, char **ret_cert_pem,
                 char **ret_key_pem);
