/* common/manifest.c: parse and validate OCI / Docker manifests and indexes.
 *
 * The parsed JSON tree lives as long as the manifest_t, so every string handed
 * out (media types, platform fields) is borrowed from it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include "common/err.h"
#include "common/macro.h"
#include "common/manifest.h"

struct manifest {
        json_t *root;
        const char *media_type;      /* one of the static MT_* strings */
        bool is_index;
        const char *artifact_type;   /* borrowed from root, may be NULL */
        manifest_desc_t *descs;
        size_t n_descs;
        bool has_subject;
        manifest_desc_t subject;
        json_t *annotations;         /* borrowed from root, may be NULL */
};

static const char *const known_types[] = {
        MT_OCI_MANIFEST,
        MT_OCI_INDEX,
        MT_DOCKER_MANIFEST,
        MT_DOCKER_LIST,
};

static bool type_is_index(const char *mt) {
        return mt == known_types[1] || mt == known_types[3];
}

static bool type_is_docker(const char *mt) {
        return mt == known_types[2] || mt == known_types[3];
}

/* Exact body mediaType → static MT_* string, or NULL. */
static const char *known_type(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(known_types); i++)
                if (strcmp(s, known_types[i]) == 0)
                        return known_types[i];
        return NULL;
}

static bool is_ows(char c) {
        return c == ' ' || c == '\t';
}

/* Content-Type of the push → static MT_* string (*ret), or NULL when it says nothing
 * (absent, empty or generic application/json). Parameters (";charset=...") and
 * surrounding whitespace are ignored; media types compare case-insensitively (RFC 9110).
 * Returns false for a type we do not accept (Docker schema1 and anything else). */
static bool content_type_decode(const char *ct, const char **ret) {
        size_t b = 0, e;

        *ret = NULL;
        if (!ct)
                return true;
        e = strcspn(ct, ";");
        while (b < e && is_ows(ct[b]))
                b++;
        while (e > b && is_ows(ct[e - 1]))
                e--;
        if (b == e)
                return true;
        /* generic JSON says nothing about which manifest kind this is */
        if (e - b == strlen("application/json") && strncasecmp(ct + b, "application/json", e - b) == 0)
                return true;
        for (size_t i = 0; i < ELEMENTSOF(known_types); i++) {
                if (strlen(known_types[i]) == e - b &&
                    strncasecmp(ct + b, known_types[i], e - b) == 0) {
                        *ret = known_types[i];
                        return true;
                }
        }
        return false;
}

/* Docker schema1 (signed or not); named in the error so a client's user knows why. */
static bool is_schema1(const char *ct) {
        static const char prefix[] = "application/vnd.docker.distribution.manifest.v1+";

        return ct && strncasecmp(ct + strspn(ct, " \t"), prefix, strlen(prefix)) == 0;
}

/* Optional string member: absent → NULL/true, string → value/true, other → false. */
static bool opt_string(json_t *obj, const char *key, const char **ret) {
        json_t *v = json_object_get(obj, key);

        *ret = NULL;
        if (!v)
                return true;
        if (!json_is_string(v))
                return false;
        *ret = json_string_value(v);
        return true;
}

/* annotations: an object whose values are all strings */
static bool annotations_valid(json_t *v) {
        const char *k;
        json_t *val;

        if (!json_is_object(v))
                return false;
        json_object_foreach(v, k, val)
                if (!json_is_string(val))
                        return false;
        return true;
}

static int parse_platform(json_t *p, manifest_desc_t *d, const char **reterr_detail) {
        if (!json_is_object(p)) {
                *reterr_detail = "platform is not an object";
                return BERTH_EMANIFEST;
        }
        if (!opt_string(p, "os", &d->os) || !opt_string(p, "architecture", &d->arch) ||
            !opt_string(p, "variant", &d->variant)) {
                *reterr_detail = "platform field is not a string";
                return BERTH_EMANIFEST;
        }
        if (!d->os || !d->arch) {
                *reterr_detail = "platform lacks os or architecture";
                return BERTH_EMANIFEST;
        }
        return 0;
}

/* A descriptor; platform is read (and checked) only for index entries. */
static int parse_desc(json_t *v, manifest_desc_kind_t kind, bool want_platform, manifest_desc_t *d,
                      const char **reterr_detail) {
        json_t *dg, *sz, *ann, *plat;

        memset(d, 0, sizeof(*d));
        d->kind = kind;
        if (!json_is_object(v)) {
                *reterr_detail = "descriptor is not an object";
                return BERTH_EMANIFEST;
        }
        if (!opt_string(v, "mediaType", &d->media_type) || !d->media_type) {
                *reterr_detail = "descriptor lacks a string mediaType";
                return BERTH_EMANIFEST;
        }
        dg = json_object_get(v, "digest");
        if (!json_is_string(dg) ||
            digest_parse_n(json_string_value(dg), json_string_length(dg), &d->digest) < 0) {
                *reterr_detail = "descriptor digest is missing or invalid";
                return BERTH_EMANIFEST;
        }
        sz = json_object_get(v, "size");
        if (!json_is_integer(sz) || json_integer_value(sz) < 0) {
                *reterr_detail = "descriptor size is missing, not an integer or negative";
                return BERTH_EMANIFEST;
        }
        d->size = json_integer_value(sz);
        if (!opt_string(v, "artifactType", &d->artifact_type)) {
                *reterr_detail = "descriptor artifactType is not a string";
                return BERTH_EMANIFEST;
        }
        ann = json_object_get(v, "annotations");
        if (ann && !annotations_valid(ann)) {
                *reterr_detail = "descriptor annotations must be an object of strings";
                return BERTH_EMANIFEST;
        }
        plat = json_object_get(v, "platform");
        if (plat && want_platform)
                return parse_platform(plat, d, reterr_detail);
        return 0;
}

static int alloc_descs(manifest_t *m, size_t n) {
        size_t bytes;

        if (n == 0)
                return 0;
        if (__builtin_mul_overflow(n, sizeof(manifest_desc_t), &bytes))
                return -ENOMEM;
        m->descs = calloc(1, bytes);
        return m->descs ? 0 : -ENOMEM;
}

static int parse_image(manifest_t *m, const char **reterr_detail) {
        json_t *config = json_object_get(m->root, "config");
        json_t *layers = json_object_get(m->root, "layers");
        size_t i;
        json_t *l;
        int r;

        if (json_object_get(m->root, "manifests")) {
                *reterr_detail = "image manifest must not have manifests";
                return BERTH_EMANIFEST;
        }
        if (!config) {
                *reterr_detail = "image manifest lacks config";
                return BERTH_EMANIFEST;
        }
        if (!json_is_array(layers)) {
                *reterr_detail = "image manifest lacks a layers array";
                return BERTH_EMANIFEST;
        }
        r = alloc_descs(m, json_array_size(layers) + 1);
        if (r < 0)
                return r;
        r = parse_desc(config, MANIFEST_DESC_CONFIG, false, &m->descs[0], reterr_detail);
        if (r < 0)
                return r;
        m->n_descs = 1;
        json_array_foreach(layers, i, l) {
                r = parse_desc(l, MANIFEST_DESC_LAYER, false, &m->descs[m->n_descs], reterr_detail);
                if (r < 0)
                        return r;
                m->n_descs++;
        }
        return 0;
}

static int parse_index(manifest_t *m, const char **reterr_detail) {
        json_t *children = json_object_get(m->root, "manifests");
        size_t i;
        json_t *c;
        int r;

        if (json_object_get(m->root, "config") || json_object_get(m->root, "layers")) {
                *reterr_detail = "index must not have config or layers";
                return BERTH_EMANIFEST;
        }
        if (!json_is_array(children)) {
                *reterr_detail = "index lacks a manifests array";
                return BERTH_EMANIFEST;
        }
        r = alloc_descs(m, json_array_size(children));
        if (r < 0)
                return r;
        json_array_foreach(children, i, c) {
                r = parse_desc(c, MANIFEST_DESC_CHILD, true, &m->descs[m->n_descs], reterr_detail);
                if (r < 0)
                        return r;
                m->n_descs++;
        }
        return 0;
}

/* Decide the media type from the body's mediaType, the push Content-Type and, when
 * both are silent, the structure. */
static int decide_type(json_t *root, const char *content_type, const char **ret,
                       const char **reterr_detail) {
        json_t *v = json_object_get(root, "mediaType");
        const char *body_mt = NULL, *ct_mt = NULL, *mt;

        if (v) {
                if (!json_is_string(v)) {
                        *reterr_detail = "mediaType is not a string";
                        return BERTH_EMANIFEST;
                }
                body_mt = known_type(json_string_value(v));
                if (!body_mt) {
                        *reterr_detail = "unsupported manifest mediaType";
                        return BERTH_EMANIFEST;
                }
        }
        if (!content_type_decode(content_type, &ct_mt)) {
                *reterr_detail = is_schema1(content_type)
                                         ? "Docker schema1 manifests are not supported"
                                         : "unsupported manifest Content-Type";
                return BERTH_EMANIFEST;
        }
        if (body_mt && ct_mt && body_mt != ct_mt) {
                *reterr_detail = "mediaType does not match Content-Type";
                return BERTH_EMANIFEST;
        }
        mt = body_mt ? body_mt : ct_mt;
        if (!mt) {
                if (json_object_get(root, "manifests"))
                        mt = MT_OCI_INDEX;
                else if (json_object_get(root, "config"))
                        mt = MT_OCI_MANIFEST;
                else {
                        *reterr_detail = "cannot determine the manifest media type";
                        return BERTH_EMANIFEST;
                }
        }
        if (type_is_docker(mt) && !body_mt) {
                *reterr_detail = "Docker manifest lacks mediaType";
                return BERTH_EMANIFEST;
        }
        *ret = mt;
        return 0;
}

static int validate(manifest_t *m, const char *content_type, const char **reterr_detail) {
        json_t *sv, *subj;
        int r;

        if (!json_is_object(m->root)) {
                *reterr_detail = "manifest is not a JSON object";
                return BERTH_EMANIFEST;
        }
        sv = json_object_get(m->root, "schemaVersion");
        if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
                *reterr_detail = json_is_integer(sv) && json_integer_value(sv) == 1
                                         ? "Docker schema1 manifests are not supported"
                                         : "schemaVersion must be 2";
                return BERTH_EMANIFEST;
        }
        r = decide_type(m->root, content_type, &m->media_type, reterr_detail);
        if (r < 0)
                return r;
        m->is_index = type_is_index(m->media_type);
        r = m->is_index ? parse_index(m, reterr_detail) : parse_image(m, reterr_detail);
        if (r < 0)
                return r;
        subj = json_object_get(m->root, "subject");
        if (subj) {
                /* the kind is not meaningful for a subject; it names a manifest */
                r = parse_desc(subj, MANIFEST_DESC_CHILD, false, &m->subject, reterr_detail);
                if (r < 0)
                        return r;
                m->has_subject = true;
        }
        if (!opt_string(m->root, "artifactType", &m->artifact_type)) {
                *reterr_detail = "artifactType is not a string";
                return BERTH_EMANIFEST;
        }
        m->annotations = json_object_get(m->root, "annotations");
        if (m->annotations && !annotations_valid(m->annotations)) {
                *reterr_detail = "annotations must be an object of strings";
                return BERTH_EMANIFEST;
        }
        return 0;
}

DEFINE_CLEANUP_FUNC(manifest_t, manifest_free);

int manifest_parse(const uint8_t *buf, size_t len, const char *content_type,
                   manifest_t **ret, const char **reterr_detail) {
        _cleanup_(manifest_freep) manifest_t *m = NULL;
        const char *detail_dummy;
        json_error_t jerr;
        int r;

        if (!reterr_detail)
                reterr_detail = &detail_dummy;
        *reterr_detail = NULL;
        if (!ret)
                return -EINVAL;
        if (len > MANIFEST_MAX_SIZE) {
                *reterr_detail = "manifest exceeds the size limit";
                return BERTH_ETOOBIG;
        }
        if (!buf || len == 0) {
                *reterr_detail = "empty manifest";
                return BERTH_EMANIFEST;
        }
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        /* no JSON_DISABLE_EOF_CHECK: trailing bytes other than whitespace fail */
        m->root = json_loadb((const char *) buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!m->root) {
                switch (json_error_code(&jerr)) {
                case json_error_out_of_memory:
                        return -ENOMEM;
                case json_error_duplicate_key:
                        *reterr_detail = "duplicate key in manifest JSON";
                        break;
                case json_error_end_of_input_expected:
                        *reterr_detail = "trailing data after manifest JSON";
                        break;
                case json_error_wrong_type:
                        *reterr_detail = "manifest is not a JSON object";
                        break;
                default:
                        *reterr_detail = "manifest is not valid JSON";
                        break;
                }
                return BERTH_EMANIFEST;
        }
        r = validate(m, content_type, reterr_detail);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

manifest_t *manifest_free(manifest_t *m) {
        if (!m)
                return NULL;
        free(m->descs);
        json_decref(m->root);
        free(m);
        return NULL;
}

const char *manifest_media_type(const manifest_t *m) {
        return m->media_type;
}

bool manifest_is_index(const manifest_t *m) {
        return m->is_index;
}

const char *manifest_artifact_type(const manifest_t *m) {
        if (m->artifact_type)
                return m->artifact_type;
        if (!m->is_index && m->n_descs > 0)
                return m->descs[0].media_type;
        return NULL;
}

size_t manifest_desc_count(const manifest_t *m) {
        return m->n_descs;
}

const manifest_desc_t *manifest_desc(const manifest_t *m, size_t i) {
        if (i >= m->n_descs)
                return NULL;
        return &m->descs[i];
}

const manifest_desc_t *manifest_subject(const manifest_t *m) {
        return m->has_subject ? &m->subject : NULL;
}

char *manifest_annotations_json(const manifest_t *m) {
        if (!m->annotations)
                return NULL;
        return json_dumps(m->annotations, JSON_COMPACT);
}
