/* client/dockercfg.c: config.json / .dockercfg / Secret (JSON or YAML) readers. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "client/dockercfg.h"
#include "client/yaml.h"
#include "common/base64.h"
#include "common/err.h"
#include "common/file.h"
#include "common/macro.h"

struct dockercfg {
        dockercfg_entry_t *v;
        size_t n;
};

dockercfg_t *dockercfg_free(dockercfg_t *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n; i++) {
                free(c->v[i].registry);
                free(c->v[i].username);
                if (c->v[i].password) {
                        explicit_bzero(c->v[i].password, strlen(c->v[i].password));
                        free(c->v[i].password);
                }
        }
        free(c->v);
        free(c);
        return NULL;
}
DEFINE_CLEANUP_FUNC(dockercfg_t, dockercfg_free);

size_t dockercfg_count(const dockercfg_t *c) { return c ? c->n : 0; }
const dockercfg_entry_t *dockercfg_entry(const dockercfg_t *c, size_t i) {
        return c && i < c->n ? &c->v[i] : NULL;
}

int dockercfg_base64_decode(const char *s, size_t len, char **ret, size_t *ret_len) {
        _cleanup_free_ char *out = NULL;
        long n;

        out = malloc(len / 4 * 3 + 3 + 1);
        if (!out)
                return -ENOMEM;
        n = base64_decode(BASE64_STD, s, len, (uint8_t *) out, len / 4 * 3 + 3);
        if (n < 0)
                return -EINVAL;
        out[n] = '\0';
        if (ret_len)
                *ret_len = (size_t) n;
        *ret = TAKE_PTR(out);
        return 0;
}

static int add_entry(dockercfg_t *c, const char *registry, json_t *val, const char **detail) {
        const char *auth = NULL, *user = NULL, *pass = NULL;
        _cleanup_free_ char *decoded = NULL;
        dockercfg_entry_t *e, *nv;
        json_t *j;

        if (!json_is_object(val)) {
                *detail = "a registry entry is not an object";
                return BERTH_ECONFIG;
        }
        if (c->n >= DOCKERCFG_ENTRIES_MAX)
                return BERTH_ETOOBIG;
        if ((j = json_object_get(val, "auth")) && !json_is_null(j)) {
                if (!json_is_string(j)) {
                        *detail = "\"auth\" is not a string";
                        return BERTH_ECONFIG;
                }
                auth = json_string_value(j);
        }
        if ((j = json_object_get(val, "username")) && json_is_string(j))
                user = json_string_value(j);
        if ((j = json_object_get(val, "password")) && json_is_string(j))
                pass = json_string_value(j);
        /* like the kubelet: a non-empty auth overrides username/password */
        if (auth && auth[0]) {
                size_t dlen;
                char *colon;
                int r = dockercfg_base64_decode(auth, strlen(auth), &decoded, &dlen);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 || strlen(decoded) != dlen || !(colon = strchr(decoded, ':'))) {
                        *detail = "\"auth\" is not base64 of user:password";
                        return BERTH_ECONFIG;
                }
                *colon = '\0';
                user = decoded;
                pass = colon + 1;
        }
        nv = realloc(c->v, (c->n + 1) * sizeof(*c->v));
        if (!nv)
                return -ENOMEM;
        c->v = nv;
        e = &c->v[c->n];
        e->registry = strdup(registry);
        e->username = strdup(user ? user : "");
        e->password = strdup(pass ? pass : "");
        if (decoded)
                explicit_bzero(decoded, strlen(decoded) + 1 + strlen(pass));
        if (!e->registry || !e->username || !e->password) {
                free(e->registry);
                free(e->username);
                free(e->password);
                return -ENOMEM;
        }
        c->n++;
        return 0;
}

static int add_map(dockercfg_t *c, json_t *map, const char **detail) {
        const char *key;
        json_t *val;
        int r;

        if (!json_is_object(map)) {
                *detail = "credentials are not a JSON object";
                return BERTH_ECONFIG;
        }
        json_object_foreach(map, key, val) {
                if (!key[0]) {
                        *detail = "empty registry key";
                        return BERTH_ECONFIG;
                }
                r = add_entry(c, key, val, detail);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* a config.json (has "auths") or a legacy .dockercfg (the map itself) */
static int parse_config_json(dockercfg_t *c, json_t *root, int want_legacy, const char **detail) {
        json_t *auths = json_object_get(root, "auths");

        if (want_legacy == 0 || (want_legacy < 0 && auths)) {
                if (!auths) {
                        *detail = ".dockerconfigjson has no \"auths\" object";
                        return BERTH_ECONFIG;
                }
                return add_map(c, auths, detail);
        }
        return add_map(c, root, detail);
}

static json_t *load_json(const char *buf, size_t len, const char **detail) {
        json_error_t err;
        json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
        if (!j)
                *detail = "malformed JSON";
        return j;
}

/* the payload of a Secret key: raw JSON text */
static int parse_payload(dockercfg_t *c, const char *buf, size_t len, bool legacy, const char **detail) {
        json_t *j = load_json(buf, len, detail);
        int r;

        if (!j)
                return BERTH_ECONFIG;
        r = parse_config_json(c, j, legacy ? 1 : 0, detail);
        json_decref(j);
        return r;
}

typedef struct {
        char *kind, *type;
        char *payload;       /* decoded value of the key the type names */
        size_t payload_len;
} secret_t;

static void secret_done(secret_t *s) {
        free(s->kind);
        free(s->type);
        if (s->payload) {
                explicit_bzero(s->payload, s->payload_len);
                free(s->payload);
        }
}

static const char *secret_key(const char *type) {
        if (type && strcmp(type, "kubernetes.io/dockerconfigjson") == 0)
                return ".dockerconfigjson";
        if (type && strcmp(type, "kubernetes.io/dockercfg") == 0)
                return ".dockercfg";
        return NULL;
}

static int secret_finish(dockercfg_t *c, secret_t *s, const char **detail) {
        if (!s->kind || strcmp(s->kind, "Secret") != 0) {
                *detail = "not a Secret (kind)";
                return BERTH_ECONFIG;
        }
        if (!secret_key(s->type)) {
                *detail = "Secret type is not kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg";
                return BERTH_ECONFIG;
        }
        if (!s->payload) {
                *detail = "Secret has no data for the key its type names";
                return BERTH_ECONFIG;
        }
        return parse_payload(c, s->payload, s->payload_len, strcmp(s->type, "kubernetes.io/dockercfg") == 0, detail);
}

/* value from data (base64) or stringData (raw); stringData wins, as in the API server */
static int secret_set(secret_t *s, const char *val, size_t len, bool base64, bool *from_string) {
        char *p;
        size_t plen;
        int r;

        if (base64 && *from_string)
                return 0; /* stringData beats data */
        if (base64) {
                r = dockercfg_base64_decode(val, len, &p, &plen);
                if (r < 0)
                        return r;
        } else {
                p = strndup(val, len);
                if (!p)
                        return -ENOMEM;
                plen = len;
                *from_string = true;
        }
        if (s->payload) {
                explicit_bzero(s->payload, s->payload_len);
                free(s->payload);
        }
        s->payload = p;
        s->payload_len = plen;
        return 0;
}

static int parse_secret_json(dockercfg_t *c, json_t *root, const char **detail) {
        secret_t s = { 0 };
        bool from_string = false;
        const char *key;
        json_t *j;
        int r;

        if ((j = json_object_get(root, "kind")) && json_is_string(j))
                s.kind = strdup(json_string_value(j));
        if ((j = json_object_get(root, "type")) && json_is_string(j))
                s.type = strdup(json_string_value(j));
        key = secret_key(s.type);
        if (key && (j = json_object_get(json_object_get(root, "data"), key))) {
                if (!json_is_string(j)) {
                        *detail = "Secret data value is not a string";
                        r = BERTH_ECONFIG;
                        goto out;
                }
                r = secret_set(&s, json_string_value(j), json_string_length(j), true, &from_string);
                if (r < 0) {
                        if (r == -EINVAL) {
                                *detail = "Secret data value is not base64";
                                r = BERTH_ECONFIG;
                        }
                        goto out;
                }
        }
        if (key && (j = json_object_get(json_object_get(root, "stringData"), key))) {
                if (!json_is_string(j)) {
                        *detail = "Secret stringData value is not a string";
                        r = BERTH_ECONFIG;
                        goto out;
                }
                r = secret_set(&s, json_string_value(j), json_string_length(j), false, &from_string);
                if (r < 0)
                        goto out;
        }
        r = secret_finish(c, &s, detail);
out:
        secret_done(&s);
        return r;
}

static int parse_secret_yaml(dockercfg_t *c, const char *buf, size_t len, const char **detail) {
        yaml_lines_t l = { .p = buf, .end = buf + len };
        secret_t s = { 0 };
        bool from_string = false, seen_content = false, seen[6] = { 0 };
        const char *line, *k, *rest;
        size_t n, klen, rlen;
        int r = 0;
        enum { TOP, SKIP, DATA, STRINGDATA } mode = TOP;
        size_t child_indent = 0;

        while (yaml_next_line(&l, &line, &n)) {
                size_t ind;
                _cleanup_free_ char *val = NULL;
                size_t vlen = 0;
                char chomp = 0;

                if (n > yaml_indent(line, n) && line[yaml_indent(line, n)] == '\t') {
                        *detail = "YAML: tabs in indentation";
                        r = BERTH_ECONFIG;
                        goto out;
                }
                if (yaml_blank_or_comment(line, n))
                        continue;
                if (n >= 3 && memcmp(line, "---", 3) == 0 && (n == 3 || line[3] == ' ')) {
                        if (seen_content) {
                                *detail = "YAML: more than one document";
                                r = BERTH_ECONFIG;
                                goto out;
                        }
                        continue;
                }
                if (n == 3 && memcmp(line, "...", 3) == 0)
                        break;
                seen_content = true;
                ind = yaml_indent(line, n);
                if (ind > 0) {
                        if (mode == TOP) {
                                *detail = "YAML: unexpected indentation";
                                r = BERTH_ECONFIG;
                                goto out;
                        }
                        if (mode == SKIP)
                                continue;
                        if (child_indent == 0)
                                child_indent = ind;
                        if (ind != child_indent || !yaml_key(line + ind, n - ind, &k, &klen, &rest, &rlen)) {
                                *detail = "YAML: data and stringData must be flat maps of key: value";
                                r = BERTH_ECONFIG;
                                goto out;
                        }
                        r = yaml_scalar(rest, rlen, &val, &vlen, &chomp, detail);
                        if (r == 1)
                                r = yaml_block(&l, ind, chomp, &val, &vlen, detail);
                        if (r < 0)
                                goto out;
                        if (!val) {
                                *detail = "YAML: missing value";
                                r = BERTH_ECONFIG;
                                goto out;
                        }
                        if (yaml_span_is(k, klen, secret_key(s.type) ? secret_key(s.type) : "")) {
                                r = secret_set(&s, val, vlen, mode == DATA, &from_string);
                                if (r == -EINVAL) {
                                        *detail = "Secret data value is not base64";
                                        r = BERTH_ECONFIG;
                                }
                                if (r < 0)
                                        goto out;
                        } else if (!secret_key(s.type) && (yaml_span_is(k, klen, ".dockerconfigjson") || yaml_span_is(k, klen, ".dockercfg"))) {
                                *detail = "YAML: put \"type\" before data/stringData";
                                r = BERTH_ECONFIG;
                                goto out;
                        }
                        continue;
                }
                /* top level */
                mode = TOP;
                child_indent = 0;
                if (!yaml_key(line, n, &k, &klen, &rest, &rlen)) {
                        *detail = "YAML: expected \"key: value\" at top level";
                        r = BERTH_ECONFIG;
                        goto out;
                }
                {
                        static const char *const known[] = { "apiVersion", "kind", "type", "metadata", "data", "stringData" };
                        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                                if (yaml_span_is(k, klen, known[i])) {
                                        if (seen[i]) {
                                                *detail = "YAML: duplicate key";
                                                r = BERTH_ECONFIG;
                                                goto out;
                                        }
                                        seen[i] = true;
                                }
                }
                if (yaml_span_is(k, klen, "metadata")) {
                        mode = SKIP;
                        continue;
                }
                if (yaml_span_is(k, klen, "data") || yaml_span_is(k, klen, "stringData")) {
                        if (rlen > 0 && !(rlen >= 2 && rest[0] == '{' && rest[1] == '}')) {
                                if (rest[0] != '#') {
                                        *detail = "YAML: data and stringData must be block maps";
                                        r = BERTH_ECONFIG;
                                        goto out;
                                }
                        }
                        mode = yaml_span_is(k, klen, "data") ? DATA : STRINGDATA;
                        if (mode == DATA && from_string)
                                mode = SKIP; /* stringData already won */
                        continue;
                }
                if (rlen == 0 || rest[0] == '#') {
                        mode = SKIP; /* an unknown block: ignored */
                        continue;
                }
                r = yaml_scalar(rest, rlen, &val, &vlen, &chomp, detail);
                if (r == 1) {
                        *detail = "YAML: literal blocks only in data/stringData";
                        r = BERTH_ECONFIG;
                }
                if (r < 0)
                        goto out;
                if (yaml_span_is(k, klen, "kind")) {
                        s.kind = TAKE_PTR(val);
                } else if (yaml_span_is(k, klen, "type")) {
                        s.type = TAKE_PTR(val);
                }
        }
        r = secret_finish(c, &s, detail);
out:
        secret_done(&s);
        return r;
}

int dockercfg_parse(const char *buf, size_t len, dockercfg_t **ret, const char **reterr_detail) {
        _cleanup_(dockercfg_freep) dockercfg_t *c = NULL;
        const char *detail = "invalid credentials file";
        size_t i = 0;
        int r;

        if (len > DOCKERCFG_FILE_MAX)
                return BERTH_ETOOBIG;
        if (memchr(buf, '\0', len)) {
                detail = "NUL byte in credentials file";
                r = BERTH_ECONFIG;
                goto fail;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t'))
                i++;
        if (i == len) {
                detail = "empty credentials file";
                r = BERTH_ECONFIG;
                goto fail;
        }
        if (buf[i] == '{') {
                json_t *root = load_json(buf, len, &detail);
                json_t *kind;
                if (!root) {
                        r = BERTH_ECONFIG;
                        goto fail;
                }
                kind = json_object_get(root, "kind");
                if (kind)
                        r = parse_secret_json(c, root, &detail);
                else
                        r = parse_config_json(c, root, -1, &detail);
                json_decref(root);
        } else
                r = parse_secret_yaml(c, buf, len, &detail);
        if (r < 0)
                goto fail;
        *ret = TAKE_PTR(c);
        return 0;
fail:
        if (reterr_detail)
                *reterr_detail = detail;
        return r;
}

int dockercfg_load(const char *path, dockercfg_t **ret, const char **reterr_detail) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r;

        r = file_read_all(path, DOCKERCFG_FILE_MAX, &buf, &len);
        if (r < 0)
                return r;
        r = dockercfg_parse(buf, len, ret, reterr_detail);
        explicit_bzero(buf, len);
        return r;
}
