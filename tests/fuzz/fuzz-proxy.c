/* tests/fuzz/fuzz-proxy.c: the trusted-proxy list and the X-Forwarded-For walk on
 * arbitrary bytes. Input: a --trusted-proxies list, a NUL byte, then header values
 * separated by newlines. The peer is the first list entry's address, else 127.0.0.1.
 * Checks: a parsed list matches the address of its first entry; the client is the
 * peer unless the peer is trusted and the header was used; a client taken from the
 * header formats to text that parses back to it; the walk is deterministic. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "server/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_VALUES 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *nul = memchr(data, 0, size);
        size_t list_len = nul ? (size_t) (nul - data) : size;
        char *list, *hdr;
        const char *cvals[MAX_VALUES];
        proxy_cidrs_t *t = NULL;
        proxy_addr_t peer, c1, c2;
        size_t n = 0, hlen = nul ? size - list_len - 1 : 0;
        int r1, r2;

        list = malloc(list_len + 1);
        hdr = malloc(hlen + 1);
        if (!list || !hdr)
                goto out;
        memcpy(list, data, list_len);
        list[list_len] = '\0';
        if (hlen)
                memcpy(hdr, nul + 1, hlen);
        hdr[hlen] = '\0';

        if (proxy_cidrs_parse(list, &t) < 0)
                t = NULL; /* still walk: with no trusted list the header is never read */
        /* the peer: the first entry's address when it is written without spaces,
         * which must then be inside the list (inside its own block) */
        if (proxy_addr_parse("127.0.0.1", 9, &peer) < 0)
                abort();
        if (t) {
                size_t l = strcspn(list, ",/");
                proxy_addr_t a;
                if (proxy_addr_parse(list, l, &a) == 0) {
                        if (!proxy_cidrs_match(t, &a))
                                abort();
                        peer = a;
                }
        }
        for (char *p = hdr, *save = NULL, *v; n < MAX_VALUES && (v = strtok_r(p, "\n", &save)); p = NULL) {
                cvals[n] = v;
                n++;
        }
        r1 = proxy_client_addr(t, &peer, cvals, n, &c1);
        r2 = proxy_client_addr(t, &peer, cvals, n, &c2);
        if (r1 != r2 || !proxy_addr_equal(&c1, &c2))
                abort();
        if (r1 < 0 && r1 != -22)
                abort();
        if (r1 <= 0 && !proxy_addr_equal(&c1, &peer))
                abort();
        if (r1 == 1) {
                char txt[PROXY_ADDR_STRLEN];
                proxy_addr_t back;
                if (!proxy_cidrs_match(t, &peer))
                        abort(); /* the header of an untrusted peer was used */
                proxy_addr_format(&c1, txt, sizeof(txt));
                if (proxy_addr_parse(txt, strlen(txt), &back) < 0 || !proxy_addr_equal(&back, &c1))
                        abort();
        }
out:
        proxy_cidrs_free(t);
        free(list);
        free(hdr);
        return 0;
}
