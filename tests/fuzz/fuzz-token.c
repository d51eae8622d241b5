/* tests/fuzz/fuzz-token.c: libFuzzer target for the Bearer token decoder and the
 * scope parser of auth/.
 *
 * The first byte chooses what the rest is:
 *   0: a token as a client sends it, decoded under a fixed key;
 *   1: a payload, signed here with the fixed key so the parser behind the MAC is
 *      reached, then decoded;
 *   2: a scope parameter for auth_scope_add.
 * Besides memory safety: a decoded token re-encodes to exactly its input (one
 * canonical form), its claims are within their limits, and a signed payload is
 * accepted exactly when the payload parser alone accepts it; a parsed scope names
 * at most AUTH_TOKEN_SCOPES_MAX repositories, each once, each with actions. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "auth/auth-internal.h"
#include "common/err.h"
#include "common/name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static auth_token_key_t *key;

static const char b64tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64url(const uint8_t *in, size_t len) {
        char *out = malloc(len / 3 * 4 + 5);
        uint32_t acc = 0;
        unsigned bits = 0;
        size_t n = 0;

        if (!out)
                abort();
        for (size_t i = 0; i < len; i++) {
                acc = (acc << 8) | in[i];
                bits += 8;
                while (bits >= 6) {
                        bits -= 6;
                        out[n++] = b64tab[(acc >> bits) & 63];
                }
        }
        if (bits > 0)
                out[n++] = b64tab[(acc << (6 - bits)) & 63];
        out[n] = '\0';
        return out;
}

static void check_claims(const auth_claims_t *c) {
        if (c->expires <= 0 || c->generation < 0 || c->n_scopes > AUTH_TOKEN_SCOPES_MAX)
                abort();
        if (c->kind != AUTH_SUBJECT_ANONYMOUS && c->kind != AUTH_SUBJECT_USER && c->kind != AUTH_SUBJECT_ROBOT)
                abort();
        if (c->kind == AUTH_SUBJECT_ANONYMOUS && c->name[0])
                abort();
        if (c->kind != AUTH_SUBJECT_ANONYMOUS && !auth_name_valid(c->name, AUTH_NAME_MAX))
                abort();
        for (size_t i = 0; i < c->n_scopes; i++)
                if (!name_repo_valid(c->scopes[i].repo, strlen(c->scopes[i].repo)) || c->scopes[i].actions == 0 ||
                    c->scopes[i].actions > 7)
                        abort();
}

/* A decoded token must be what encoding its claims gives. */
static void check_roundtrip(const char *tok, size_t len, const auth_claims_t *c) {
        char *again = NULL;

        check_claims(c);
        if (auth_token_encode(key, c, &again) != 0)
                abort();
        if (strlen(again) != len || memcmp(again, tok, len) != 0)
                abort();
        free(again);
}

static void fuzz_token(const char *s, size_t len) {
        auth_claims_t c;
        int r = auth_token_decode(key, s, len, &c);

        if (r != 0 && r != BERTH_EAUTH)
                abort();
        if (r == 0)
                check_roundtrip(s, len, &c);
}

static void fuzz_signed(const uint8_t *p, size_t len) {
        auth_claims_t c, c2;
        uint8_t mac[32];
        char *enc, *tok, *m;
        size_t el;
        int r, rp;

        enc = b64url(p, len);
        el = strlen(enc);
        if (auth_token_key_mac(key, enc, el, mac) != 0)
                abort();
        m = b64url(mac, sizeof(mac));
        tok = malloc(el + 1 + strlen(m) + 1);
        if (!tok)
                abort();
        memcpy(tok, enc, el);
        tok[el] = '.';
        strcpy(tok + el + 1, m);
        r = auth_token_decode(key, tok, strlen(tok), &c);
        rp = auth_token_parse_payload((const char *) p, len, &c2);
        if (r != 0 && r != BERTH_EAUTH)
                abort();
        /* the decoder only adds the size limit to what the parser accepts */
        if (r == 0 && rp != 0)
                abort();
        if (rp == 0 && r != 0 && strlen(tok) <= AUTH_TOKEN_TEXT_MAX)
                abort();
        if (r == 0)
                check_roundtrip(tok, strlen(tok), &c);
        free(tok);
        free(m);
        free(enc);
}

static void fuzz_scope(const char *s) {
        auth_claims_t c;
        int r;

        memset(&c, 0, sizeof(c));
        r = auth_scope_add(&c, s);
        if (r != 0 && r != BERTH_ETOOBIG)
                abort();
        if (c.n_scopes > AUTH_TOKEN_SCOPES_MAX)
                abort();
        for (size_t i = 0; i < c.n_scopes; i++) {
                if (!name_repo_valid(c.scopes[i].repo, strlen(c.scopes[i].repo)) || c.scopes[i].actions == 0 ||
                    c.scopes[i].actions > 7)
                        abort();
                for (size_t j = 0; j < i; j++)
                        if (strcmp(c.scopes[i].repo, c.scopes[j].repo) == 0)
                                abort();
                if (auth_claims_actions(&c, c.scopes[i].repo) != c.scopes[i].actions)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint8_t k[32] = { 0x42 };
        char *s;

        if (!key && auth_token_key_new(k, &key) != 0)
                abort();
        if (size < 1)
                return 0;
        s = malloc(size);
        if (!s)
                abort();
        memcpy(s, data + 1, size - 1);
        s[size - 1] = '\0';
        switch (data[0] % 3) {
        case 0:
                fuzz_token(s, size - 1);
                break;
        case 1:
                fuzz_signed(data + 1, size - 1);
                break;
        default:
                if (!memchr(data + 1, '\0', size - 1))
                        fuzz_scope(s);
        }
        free(s);
        return 0;
}
