/* client/registry-auth.c: the registry client's authentication: parsing
 * WWW-Authenticate challenges, the Bearer token cache, and token requests. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <jansson.h>
#include "client/registry-internal.h"
#include "client/registry.h"
#include "common/err.h"
#include "common/macro.h"

#define TOKEN_BODY_MAX (256u * 1024)

/* ---- challenge parsing ---- */

void registry_challenge_done(registry_challenge_t *c) {
        free(c->realm);
        free(c->service);
        free(c->scope);
        c->realm = c->service = c->scope = NULL;
}

int registry_challenge_parse(const char *v, registry_challenge_t *ret) {
        registry_challenge_t c;
        size_t i = 0, n;

        memset(&c, 0, sizeof(c));

        if (!v)
                return -EINVAL;
        while (v[i] == ' ' || v[i] == '\t')
                i++;
        for (n = 0; isalpha((unsigned char) v[i]) && n + 1 < sizeof(c.scheme); i++, n++)
                c.scheme[n] = (char) tolower((unsigned char) v[i]);
        if (n == 0 || isalpha((unsigned char) v[i]))
                return -EINVAL;
        if (strcmp(c.scheme, "basic") != 0 && strcmp(c.scheme, "bearer") != 0)
                return -EINVAL;
        for (;;) {
                char key[32], *val;
                size_t k = 0, vl = 0, cap;
                while (v[i] == ' ' || v[i] == '\t' || v[i] == ',')
                        i++;
                if (!v[i])
                        break;
                while (v[i] && v[i] != '=' && v[i] != ' ' && v[i] != ',') {
                        if (k + 1 >= sizeof(key))
                                goto bad;
                        key[k++] = (char) tolower((unsigned char) v[i++]);
                }
                key[k] = '\0';
                while (v[i] == ' ')
                        i++;
                if (v[i] != '=')
                        goto bad;
                i++;
                while (v[i] == ' ')
                        i++;
                cap = strlen(v + i) + 1;
                val = malloc(cap);
                if (!val) {
                        registry_challenge_done(&c);
                        return -ENOMEM;
                }
                if (v[i] == '"') {
                        for (i++; v[i] && v[i] != '"'; i++) {
                                if (v[i] == '\\' && v[i + 1])
                                        i++;
                                val[vl++] = v[i];
                        }
                        if (v[i] != '"') {
                                free(val);
                                goto bad;
                        }
                        i++;
                } else
                        while (v[i] && v[i] != ',' && v[i] != ' ')
                                val[vl++] = v[i++];
                val[vl] = '\0';
                if (strcmp(key, "realm") == 0 && !c.realm)
                        c.realm = val;
                else if (strcmp(key, "service") == 0 && !c.service)
                        c.service = val;
                else if (strcmp(key, "scope") == 0 && !c.scope)
                        c.scope = val;
                else
                        free(val);
        }
        if (strcmp(c.scheme, "bearer") == 0 && !c.realm)
                goto bad;
        *ret = c;
        return 0;
bad:
        registry_challenge_done(&c);
        return -EINVAL;
}

/* ---- tokens ---- */

static bool same(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* cached token for scope and cred, duplicated; NULL if none (caller holds lock) */
char *registry__token_lookup(registry_t *r, const char *scope, const registry_cred_t *cred) {
        time_t now = time(NULL);
        for (size_t i = 0; i < r->ntokens; i++) {
                token_t *t = &r->tokens[i];
                if (strcmp(t->scope, scope) == 0 && same(t->username, cred ? cred->username : NULL) &&
                    same(t->password, cred ? cred->password : NULL) && t->expires > now)
                        return strdup(t->token);
        }
        return NULL;
}

static void token_store(registry_t *r, const char *scope, const registry_cred_t *cred, const char *token, time_t expires) {
        token_t *t;

        if (r->ntokens == TOKEN_CACHE_MAX) {
                /* drop the oldest */
                free(r->tokens[0].scope);
                free(r->tokens[0].username);
                free(r->tokens[0].password);
                free(r->tokens[0].token);
                memmove(&r->tokens[0], &r->tokens[1], (TOKEN_CACHE_MAX - 1) * sizeof(token_t));
                r->ntokens--;
        }
        t = &r->tokens[r->ntokens];
        *t = (token_t) { strdup(scope), cred && cred->username ? strdup(cred->username) : NULL,
                         cred && cred->password ? strdup(cred->password) : NULL, strdup(token), expires };
        if (!t->scope || !t->token) {
                free(t->scope);
                free(t->username);
                free(t->password);
                free(t->token);
                return;
        }
        r->ntokens++;
}

void registry__apply_basic(CURL *h, const registry_cred_t *cred) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, cred->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, cred->password ? cred->password : "");
}

/* GET realm?service=..&scope=.. with the credentials; caches the token */
int registry__fetch_token(registry_t *r, const char *scope, const registry_cred_t *cred) {
        _cleanup_free_ char *realm = NULL, *service = NULL, *url = NULL;
        req_t q = { .sink = SINK_MEM, .max = TOKEN_BODY_MAX, .fd = -1 };
        char *es = NULL, *esc = NULL;
        json_t *j = NULL, *tok;
        json_int_t expires_in = 60;
        CURL *h;
        int rc;

        pthread_mutex_lock(&r->lock);
        realm = r->realm ? strdup(r->realm) : NULL;
        service = r->service ? strdup(r->service) : NULL;
        pthread_mutex_unlock(&r->lock);
        if (!realm)
                return BERTH_EAUTH;
        if (strncmp(realm, "https://", 8) != 0 && !(r->insecure && strncmp(realm, "http://", 7) == 0))
                return BERTH_EAUTH; /* never send credentials to a plain-http realm of a TLS registry */
        es = curl_easy_escape(NULL, service ? service : "", 0);
        esc = curl_easy_escape(NULL, scope, 0);
        if (!es || !esc) {
                curl_free(es);
                curl_free(esc);
                return -ENOMEM;
        }
        rc = asprintf(&url, "%s%sservice=%s&scope=%s", realm, strchr(realm, '?') ? "&" : "?", es, esc);
        curl_free(es);
        curl_free(esc);
        if (rc < 0) {
                url = NULL;
                return -ENOMEM;
        }
        h = registry__easy_new(r, url, &q);
        if (!h)
                return -ENOMEM;
        if (cred && cred->username)
                registry__apply_basic(h, cred);
        atomic_fetch_add(&r->requests, 1);
        rc = registry__map_curl(curl_easy_perform(h), &q);
        curl_easy_cleanup(h);
        if (rc == 0)
                rc = registry__map_status(q.status);
        if (rc == BERTH_EDENIED)
                rc = BERTH_EAUTH;
        if (rc == 0) {
                j = q.buf ? json_loadb(q.buf, q.len, 0, NULL) : NULL;
                tok = json_object_get(j, "token");
                if (!json_is_string(tok) || !json_string_length(tok))
                        tok = json_object_get(j, "access_token");
                if (json_is_integer(json_object_get(j, "expires_in")))
                        expires_in = json_integer_value(json_object_get(j, "expires_in"));
                if (expires_in < 1 || expires_in > 86400 * 7)
                        expires_in = 60;
                if (!json_is_string(tok) || !json_string_length(tok))
                        rc = BERTH_EHTTP;
                else {
                        /* keep a margin so a token does not expire mid-request */
                        time_t exp = time(NULL) + (expires_in > 20 ? expires_in - 10 : expires_in / 2);
                        pthread_mutex_lock(&r->lock);
                        token_store(r, scope, cred, json_string_value(tok), exp);
                        pthread_mutex_unlock(&r->lock);
                }
                json_decref(j);
        }
        if (q.buf)
                explicit_bzero(q.buf, q.len);
        registry__req_done(&q);
        return rc;
}

int registry__learn_challenge(registry_t *r, const char *www_auth) {
        registry_challenge_t c;

        if (!www_auth || registry_challenge_parse(www_auth, &c) < 0)
                return BERTH_EAUTH;
        pthread_mutex_lock(&r->lock);
        free(r->realm);
        free(r->service);
        r->realm = TAKE_PTR(c.realm);
        r->service = TAKE_PTR(c.service);
        r->scheme = strcmp(c.scheme, "bearer") == 0 ? SCHEME_BEARER : SCHEME_BASIC;
        pthread_mutex_unlock(&r->lock);
        registry_challenge_done(&c);
        return 0;
}
