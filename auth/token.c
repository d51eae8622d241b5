/* auth/token.c: signed Bearer tokens and the issuance rate limit (token mode).
 *
 * A token carries its own claims and is signed, so nothing is stored per token:
 * a restart keeps tokens valid, and every replica on the same database (the key
 * is the installation's) accepts them. Its text is
 *
 *     base64url(payload) "." base64url(HMAC-SHA256(key, base64url(payload)))
 *
 * without padding, the MAC over the payload exactly as transmitted. The payload
 * is nine fields separated by ';', every one in a single canonical form:
 *
 *     "1" ; expires ; generation ; kind ; name ; cred ; flag ; project ; scopes
 *
 * expires (unix seconds) and generation (the change counter at issue) are
 * decimal without leading zeros; kind is 'a' (anonymous), 'u' (user) or 'r'
 * (robot); name is the user or robot name ("" when anonymous); cred is 32
 * lower-case hex digits fingerprinting the credential row (a password change, a
 * removal or a re-creation changes it; "" when anonymous); flag is "1" for an
 * admin user or a robot that may push, else "0"; project is a robot's project
 * (else ""); scopes is a ','-separated list of repository ":" action bits (1
 * pull, 2 push, 4 delete, as AUTH_*), each repository once: the ceiling the
 * token grants. Nothing else is accepted, so decoding and encoding round-trip. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "auth/auth-internal.h"
#include "common/base64.h"
#include "common/err.h"
#include "common/name.h"

#define PAYLOAD_MAX ((AUTH_TOKEN_TEXT_MAX - 44) / 4 * 3) /* fits the text with its MAC */
#define MAC_B64_LEN 43                                   /* 32 bytes, no padding */


/* ---- the key ---- */

struct auth_token_key {
        EVP_MD *md;
        EVP_MD_CTX *inner, *outer; /* states after the padded key: no key schedule per token */
};

auth_token_key_t *auth_token_key_free(auth_token_key_t *k) {
        if (!k)
                return NULL;
        EVP_MD_CTX_free(k->inner);
        EVP_MD_CTX_free(k->outer);
        EVP_MD_free(k->md);
        free(k);
        return NULL;
}

int auth_token_key_new(const uint8_t key[32], auth_token_key_t **ret) {
        uint8_t pad[64];
        auth_token_key_t *k;
        int r = BERTH_ECRYPTO;

        if (!key || !ret)
                return -EINVAL;
        k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        k->md = EVP_MD_fetch(NULL, "SHA256", NULL);
        k->inner = EVP_MD_CTX_new();
        k->outer = EVP_MD_CTX_new();
        if (!k->md || !k->inner || !k->outer)
                goto out;
        memset(pad, 0x36, sizeof(pad));
        for (size_t i = 0; i < 32; i++)
                pad[i] ^= key[i];
        if (EVP_DigestInit_ex(k->inner, k->md, NULL) != 1 ||
            EVP_DigestUpdate(k->inner, pad, sizeof(pad)) != 1)
                goto out;
        memset(pad, 0x5c, sizeof(pad));
        for (size_t i = 0; i < 32; i++)
                pad[i] ^= key[i];
        if (EVP_DigestInit_ex(k->outer, k->md, NULL) != 1 ||
            EVP_DigestUpdate(k->outer, pad, sizeof(pad)) != 1)
                goto out;
        *ret = k;
        k = NULL;
        r = 0;
out:
        OPENSSL_cleanse(pad, sizeof(pad));
        auth_token_key_free(k);
        return r;
}

int auth_token_key_mac(const auth_token_key_t *k, const void *data, size_t len, uint8_t mac[32]) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        uint8_t inner[32];
        unsigned n = 0;
        int r = BERTH_ECRYPTO;

        if (!ctx)
                return -ENOMEM;
        if (EVP_MD_CTX_copy_ex(ctx, k->inner) != 1 || EVP_DigestUpdate(ctx, data, len) != 1 ||
            EVP_DigestFinal_ex(ctx, inner, &n) != 1 || n != 32)
                goto out;
        if (EVP_MD_CTX_copy_ex(ctx, k->outer) != 1 || EVP_DigestUpdate(ctx, inner, sizeof(inner)) != 1 ||
            EVP_DigestFinal_ex(ctx, mac, &n) != 1 || n != 32)
                goto out;
        r = 0;
out:
        EVP_MD_CTX_free(ctx);
        return r;
}

/* ---- scopes ---- */

static auth_scope_t *scope_find(auth_claims_t *c, const char *repo, size_t len) {
        for (size_t i = 0; i < c->n_scopes; i++)
                if (strlen(c->scopes[i].repo) == len && memcmp(c->scopes[i].repo, repo, len) == 0)
                        return &c->scopes[i];
        return NULL;
}

/* One "type:name:actions" of a scope parameter; what grants nothing is skipped. */
static int scope_one(auth_claims_t *c, const char *s, size_t len) {
        const char *c1 = memchr(s, ':', len), *c2 = NULL, *p, *end = s + len;
        unsigned actions = 0;
        auth_scope_t *e;
        size_t nlen;

        if (!c1)
                return 0;
        for (p = end; p > c1 + 1; p--)
                if (p[-1] == ':') {
                        c2 = p - 1;
                        break;
                }
        if (!c2)
                return 0;
        /* "repository", or "repository(plugin)" with a resource class */
        if (!((size_t) (c1 - s) == 10 && memcmp(s, "repository", 10) == 0) &&
            !((size_t) (c1 - s) > 12 && memcmp(s, "repository(", 11) == 0 && c1[-1] == ')'))
                return 0; /* registry:catalog:* and the rest grant nothing here */
        nlen = (size_t) (c2 - c1 - 1);
        if (!name_repo_valid(c1 + 1, nlen))
                return 0;
        for (p = c2 + 1; p < end;) {
                const char *q = memchr(p, ',', (size_t) (end - p));
                size_t al;
                if (!q)
                        q = end;
                al = (size_t) (q - p);
                if (al == 4 && memcmp(p, "pull", 4) == 0)
                        actions |= AUTH_PULL;
                else if (al == 4 && memcmp(p, "push", 4) == 0)
                        actions |= AUTH_PUSH;
                else if (al == 6 && memcmp(p, "delete", 6) == 0)
                        actions |= AUTH_DELETE;
                else if (al == 1 && *p == '*')
                        actions |= AUTH_PULL | AUTH_PUSH | AUTH_DELETE;
                p = q + 1;
        }
        if (!actions)
                return 0;
        e = scope_find(c, c1 + 1, nlen);
        if (!e) {
                if (c->n_scopes >= AUTH_TOKEN_SCOPES_MAX)
                        return BERTH_ETOOBIG;
                e = &c->scopes[c->n_scopes++];
                memcpy(e->repo, c1 + 1, nlen);
                e->repo[nlen] = '\0';
                e->actions = 0;
        }
        e->actions |= actions;
        return 0;
}

int auth_scope_add(auth_claims_t *c, const char *list) {
        const char *p = list;
        int r;

        if (!c)
                return -EINVAL;
        if (!list)
                return 0;
        while (*p) {
                size_t len;
                while (*p == ' ')
                        p++;
                len = strcspn(p, " ");
                if (len > 0 && (r = scope_one(c, p, len)) < 0)
                        return r;
                p += len;
        }
        return 0;
}

unsigned auth_claims_actions(const auth_claims_t *c, const char *repo) {
        if (!c || !repo)
                return 0;
        for (size_t i = 0; i < c->n_scopes; i++)
                if (strcmp(c->scopes[i].repo, repo) == 0)
                        return c->scopes[i].actions;
        return 0;
}

/* ---- encoding ---- */

static void hex(const uint8_t *in, size_t len, char *out) {
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < len; i++) {
                out[2 * i] = digits[in[i] >> 4];
                out[2 * i + 1] = digits[in[i] & 15];
        }
        out[2 * len] = '\0';
}

/* Are the claims what a token may carry? (The decoder checks the same.) */
static bool claims_valid(const auth_claims_t *c) {
        if (c->expires <= 0 || c->generation < 0)
                return false;
        switch (c->kind) {
        case AUTH_SUBJECT_ANONYMOUS:
                if (c->name[0] || c->flag || c->project[0])
                        return false;
                break;
        case AUTH_SUBJECT_USER:
                if (!auth_name_valid(c->name, AUTH_NAME_MAX) || c->project[0] ||
                    strncmp(c->name, AUTH_ROBOT_PREFIX, strlen(AUTH_ROBOT_PREFIX)) == 0)
                        return false;
                break;
        case AUTH_SUBJECT_ROBOT:
                if (!auth_name_valid(c->name, AUTH_NAME_MAX) ||
                    strncmp(c->name, AUTH_ROBOT_PREFIX, strlen(AUTH_ROBOT_PREFIX)) != 0 ||
                    !auth_name_valid(c->project, AUTH_PROJECT_MAX))
                        return false;
                break;
        default:
                return false;
        }
        if (c->n_scopes > AUTH_TOKEN_SCOPES_MAX)
                return false;
        for (size_t i = 0; i < c->n_scopes; i++) {
                const auth_scope_t *s = &c->scopes[i];
                if (!name_repo_valid(s->repo, strnlen(s->repo, sizeof(s->repo))) || s->actions == 0 ||
                    s->actions > (AUTH_PULL | AUTH_PUSH | AUTH_DELETE))
                        return false;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(c->scopes[j].repo, s->repo) == 0)
                                return false;
        }
        return true;
}

int auth_token_encode(const auth_token_key_t *k, const auth_claims_t *c, char **ret) {
        char payload[PAYLOAD_MAX + 1], cred[33] = "";
        uint8_t mac[32];
        size_t len, blen;
        char *out;
        int n, r;

        if (!k || !c || !ret)
                return -EINVAL;
        if (!claims_valid(c))
                return -EINVAL;
        if (c->kind != AUTH_SUBJECT_ANONYMOUS)
                hex(c->cred, sizeof(c->cred), cred);
        n = snprintf(payload, sizeof(payload), "1;%lld;%lld;%c;%s;%s;%d;%s;", (long long) c->expires,
                     (long long) c->generation, c->kind, c->name, cred, c->flag ? 1 : 0, c->project);
        if (n < 0 || (size_t) n >= sizeof(payload))
                return BERTH_ETOOBIG;
        len = (size_t) n;
        for (size_t i = 0; i < c->n_scopes; i++) {
                n = snprintf(payload + len, sizeof(payload) - len, "%s%s:%u", i ? "," : "",
                             c->scopes[i].repo, c->scopes[i].actions);
                if (n < 0 || (size_t) n >= sizeof(payload) - len)
                        return BERTH_ETOOBIG;
                len += (size_t) n;
        }
        blen = base64_encoded_len(BASE64_URL, len);
        out = malloc(blen + 1 + MAC_B64_LEN + 1);
        if (!out)
                return -ENOMEM;
        base64_encode(BASE64_URL, (const uint8_t *) payload, len, out);
        r = auth_token_key_mac(k, out, blen, mac);
        if (r < 0) {
                free(out);
                return r;
        }
        out[blen] = '.';
        base64_encode(BASE64_URL, mac, sizeof(mac), out + blen + 1);
        *ret = out;
        return 0;
}

/* ---- decoding ---- */

/* A decimal without sign or leading zeros, at most 18 digits. */
static bool parse_num(const char *s, size_t len, int64_t *ret) {
        int64_t v = 0;

        if (len == 0 || len > 18 || (len > 1 && s[0] == '0'))
                return false;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return true;
}

static bool copy_field(const char *s, size_t len, char *dst, size_t size) {
        if (len >= size || memchr(s, '\0', len))
                return false;
        memcpy(dst, s, len);
        dst[len] = '\0';
        return true;
}

static int unhex(char ch) {
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        return -1;
}

int auth_token_parse_payload(const char *p, size_t len, auth_claims_t *ret) {
        const char *f[9];
        size_t fl[9], nf = 0;
        const char *start = p, *end = p + len;
        int64_t v;
        auth_claims_t c;

        if (!p || !ret)
                return -EINVAL;
        memset(&c, 0, sizeof(c));
        for (const char *q = p; nf < 9; q++) {
                if (q == end || *q == ';') {
                        f[nf] = start;
                        fl[nf] = (size_t) (q - start);
                        nf++;
                        start = q + 1;
                        if (q == end)
                                break;
                }
        }
        if (nf != 9 || f[8] + fl[8] != end)
                return BERTH_EAUTH;
        if (fl[0] != 1 || f[0][0] != '1')
                return BERTH_EAUTH;
        if (!parse_num(f[1], fl[1], &v) || v == 0)
                return BERTH_EAUTH;
        c.expires = v;
        if (!parse_num(f[2], fl[2], &v))
                return BERTH_EAUTH;
        c.generation = v;
        if (fl[3] != 1)
                return BERTH_EAUTH;
        c.kind = f[3][0];
        if (!copy_field(f[4], fl[4], c.name, sizeof(c.name)))
                return BERTH_EAUTH;
        if (c.kind == AUTH_SUBJECT_ANONYMOUS) {
                if (fl[5] != 0)
                        return BERTH_EAUTH;
        } else {
                if (fl[5] != 2 * sizeof(c.cred))
                        return BERTH_EAUTH;
                for (size_t i = 0; i < sizeof(c.cred); i++) {
                        int hi = unhex(f[5][2 * i]), lo = unhex(f[5][2 * i + 1]);
                        if (hi < 0 || lo < 0)
                                return BERTH_EAUTH;
                        c.cred[i] = (uint8_t) (hi << 4 | lo);
                }
        }
        if (fl[6] != 1 || (f[6][0] != '0' && f[6][0] != '1'))
                return BERTH_EAUTH;
        c.flag = f[6][0] == '1';
        if (!copy_field(f[7], fl[7], c.project, sizeof(c.project)))
                return BERTH_EAUTH;
        for (const char *s = f[8], *e = f[8] + fl[8]; fl[8] > 0 && s <= e;) {
                const char *comma = memchr(s, ',', (size_t) (e - s)), *colon;
                size_t el;
                auth_scope_t *sc;

                if (!comma)
                        comma = e;
                el = (size_t) (comma - s);
                /* repository ":" one digit 1..7 */
                if (el < 3 || c.n_scopes >= AUTH_TOKEN_SCOPES_MAX)
                        return BERTH_EAUTH;
                colon = s + el - 2;
                if (*colon != ':' || colon[1] < '1' || colon[1] > '7')
                        return BERTH_EAUTH;
                sc = &c.scopes[c.n_scopes++];
                if (!copy_field(s, (size_t) (colon - s), sc->repo, sizeof(sc->repo)))
                        return BERTH_EAUTH;
                sc->actions = (unsigned) (colon[1] - '0');
                s = comma + 1;
                if (comma == e)
                        break;
        }
        if (!claims_valid(&c))
                return BERTH_EAUTH;
        *ret = c;
        return 0;
}

int auth_token_decode(const auth_token_key_t *k, const char *token, size_t len, auth_claims_t *ret) {
        char payload[PAYLOAD_MAX + 1];
        uint8_t mac[32], want[32];
        const char *dot;
        size_t plen;
        long n;
        int r;

        if (!k || !token || !ret)
                return -EINVAL;
        if (len > AUTH_TOKEN_TEXT_MAX || len < MAC_B64_LEN + 2)
                return BERTH_EAUTH;
        dot = token + len - MAC_B64_LEN - 1;
        if (*dot != '.')
                return BERTH_EAUTH;
        plen = (size_t) (dot - token);
        if (base64_decode(BASE64_URL, dot + 1, MAC_B64_LEN, mac, sizeof(mac)) != (long) sizeof(mac))
                return BERTH_EAUTH;
        r = auth_token_key_mac(k, token, plen, want);
        if (r < 0)
                return r;
        if (CRYPTO_memcmp(mac, want, sizeof(mac)) != 0)
                return BERTH_EAUTH;
        /* Only what berthd signed gets here; it is parsed as strictly all the same. */
        n = base64_decode(BASE64_URL, token, plen, (uint8_t *) payload, sizeof(payload) - 1);
        if (n < 0)
                return BERTH_EAUTH;
        payload[n] = '\0';
        return auth_token_parse_payload(payload, (size_t) n, ret);
}

/* ---- the issuance rate limit: a token bucket per client address ---- */

#define RATE_SETS 1024
#define RATE_WAYS 8
#define RATE_KEY_MAX 64
#define MILLI 1000u

typedef struct {
        char key[RATE_KEY_MAX]; /* "" free */
        uint64_t milli;         /* tokens left x 1000 */
        time_t last;
} rate_entry_t;

struct auth_rate {
        pthread_mutex_t lock;
        unsigned per_second, burst;
        uint8_t seed[16];
        rate_entry_t (*sets)[RATE_WAYS]; /* RATE_SETS x RATE_WAYS, about 640 KiB */
};

int auth_rate_new(unsigned per_second, unsigned burst, auth_rate_t **ret) {
        auth_rate_t *r;

        if (!ret || per_second == 0 || burst == 0)
                return -EINVAL;
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->sets = calloc(RATE_SETS, sizeof(*r->sets));
        if (!r->sets) {
                free(r);
                return -ENOMEM;
        }
        if (RAND_bytes(r->seed, sizeof(r->seed)) != 1) {
                free(r->sets);
                free(r);
                return BERTH_ECRYPTO;
        }
        pthread_mutex_init(&r->lock, NULL);
        r->per_second = per_second;
        r->burst = burst;
        *ret = r;
        return 0;
}

auth_rate_t *auth_rate_free(auth_rate_t *r) {
        if (!r)
                return NULL;
        pthread_mutex_destroy(&r->lock);
        free(r->sets);
        free(r);
        return NULL;
}

static unsigned rate_set(const auth_rate_t *r, const char *key) {
        uint64_t h = 1469598103934665603ULL;
        for (size_t i = 0; i < sizeof(r->seed); i++)
                h = (h ^ r->seed[i]) * 1099511628211ULL;
        for (const char *p = key; *p; p++)
                h = (h ^ (uint8_t) *p) * 1099511628211ULL;
        return (unsigned) (h % RATE_SETS);
}

unsigned auth_rate_take(auth_rate_t *r, const char *addr, time_t now) {
        char key[RATE_KEY_MAX];
        rate_entry_t *set, *e = NULL, *victim = NULL;
        const uint64_t full = (uint64_t) r->burst * MILLI;
        unsigned wait = 0;

        snprintf(key, sizeof(key), "%s", addr && *addr ? addr : "-");
        pthread_mutex_lock(&r->lock);
        set = r->sets[rate_set(r, key)];
        for (size_t w = 0; w < RATE_WAYS && !e; w++) {
                if (set[w].key[0] && strcmp(set[w].key, key) == 0)
                        e = &set[w];
                else if (!victim || (victim->key[0] && (!set[w].key[0] || set[w].last < victim->last)))
                        victim = &set[w]; /* a free way, else the one idle longest */
        }
        if (!e) {
                /* Forgetting an address only ever hands it a full bucket again:
                 * eviction cannot take tokens away from anyone. */
                e = victim;
                snprintf(e->key, sizeof(e->key), "%s", key);
                e->milli = full;
                e->last = now;
        }
        if (now > e->last) {
                uint64_t dt = (uint64_t) (now - e->last);
                uint64_t add = dt > r->burst ? full : dt * r->per_second * MILLI;
                e->milli = e->milli + add > full ? full : e->milli + add;
                e->last = now;
        }
        if (e->milli >= MILLI)
                e->milli -= MILLI;
        else
                wait = (unsigned) ((MILLI - e->milli + (uint64_t) r->per_second * MILLI - 1) /
                                   ((uint64_t) r->per_second * MILLI));
        pthread_mutex_unlock(&r->lock);
        return wait;
}
