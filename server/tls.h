/* server/tls.h: the server's TLS material. With no certificate configured, berthd
 * keeps a local CA and a server certificate signed by it under DATA/tls/. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* Make sure dir holds ca.crt, ca.key (mode 0600), server.crt and server.key (0600),
 * generating with OpenSSL whatever is missing: an EC P-256 CA (10 years) and a
 * server certificate signed by it (SAN: localhost, 127.0.0.1, ::1, the host name,
 * plus extra_sans; 825 days). A server certificate that has expired, or lacks one
 * of those SANs, is re-issued from the existing CA. *ret_generated (if non-NULL)
 * tells whether anything was written. Creates dir (0700) if needed. */
int tls_ensure(const char *dir, const char *const *extra_sans, size_t n_extra,
               bool *ret_generated);
/* Read a certificate chain and key (PEM files) into memory for libmicrohttpd,
 * checking that they parse and belong together. Returns 0, -errno or BERTH_ECRYPTO. */
int tls_load_pem(const char *cert_path, const char *key_path, char **ret_cert_pem,
                 char **ret_key_pem);
