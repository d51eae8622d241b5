/* client/registry-certs.c: the registry client's certificates: extra CAs from
 * --ca-file, and docker's certs.d directory per registry (CAs and a client certificate). */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "client/registry-internal.h"
#include "common/err.h"
#include "common/macro.h"

int registry__load_pem_certs(STACK_OF(X509) *st, const char *path) {
        FILE *f = fopen(path, "re");
        X509 *x;
        int n = 0;

        if (!f)
                return -errno;
        while ((x = PEM_read_X509(f, NULL, NULL, NULL))) {
                if (!sk_X509_push(st, x)) {
                        X509_free(x);
                        break;
                }
                n++;
        }
        fclose(f);
        return n > 0 ? 0 : BERTH_ECONFIG;
}

static bool has_suffix(const char *s, const char *suf) {
        size_t a = strlen(s), b = strlen(suf);
        return a >= b && strcmp(s + a - b, suf) == 0;
}

/* docker's certs.d: *.crt are CAs; NAME.cert with NAME.key is a client certificate */
int registry__load_certs_dir(registry_t *r, const char *dir) {
        DIR *dp = opendir(dir);
        struct dirent *de;
        int ret = 0;

        if (!dp)
                return 0;
        while ((de = readdir(dp)) && ret >= 0) {
                _cleanup_free_ char *p = NULL;
                if (de->d_name[0] == '.')
                        continue;
                if (asprintf(&p, "%s/%s", dir, de->d_name) < 0) {
                        p = NULL;
                        ret = -ENOMEM;
                        break;
                }
                if (has_suffix(de->d_name, ".crt"))
                        ret = registry__load_pem_certs(r->cas, p);
                else if (has_suffix(de->d_name, ".cert") && !r->client_cert) {
                        char *key = NULL;
                        if (asprintf(&key, "%.*s.key", (int) (strlen(p) - 5), p) < 0) {
                                ret = -ENOMEM;
                                break;
                        }
                        if (access(key, R_OK) == 0) {
                                r->client_cert = TAKE_PTR(p);
                                r->client_key = key;
                        } else
                                free(key);
                }
        }
        closedir(dp);
        return ret;
}
