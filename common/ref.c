/* common/ref.c: the image reference grammar (distribution's reference package,
 * re-implemented from its published grammar) and docker's normalization.
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path-component ( "/" path-component )*
 *   domain     := host [ ":" port ]
 *   host       := domain-component ( "." domain-component )* | "[" [A-Fa-f0-9:]+ "]"
 *   domain-component := [A-Za-z0-9] | [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]
 *   tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *
 * The 255-character limit applies to the path (after the domain, with docker's
 * "library/" prefix), as in distribution's Parse; the domain does not count. The
 * host is at most 253 characters (the longest DNS name; distribution sets no limit).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/macro.h"
#include "common/name.h"
#include "common/ref.h"

struct ref {
        char *domain, *host, *port, *path, *name, *tag, *full;
        bool has_digest;
        digest_t digest;
        char digest_str[DIGEST_STR_MAX];
};

static bool is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* host [":" port], whole string; detail set on failure */
static bool domain_valid(const char *s, size_t len, size_t *ret_hostlen, const char **detail) {
        size_t i = 0, hostlen;

        if (len == 0) {
                *detail = "empty registry host";
                return false;
        }
        if (s[0] == '[') {
                /* bracketed IPv6: hex digits and colons only, as distribution's
                 * grammar has it (no embedded dotted IPv4, no zone) */
                i = 1;
                while (i < len && (is_hex(s[i]) || s[i] == ':'))
                        i++;
                if (i >= len || s[i] != ']' || i == 1) {
                        *detail = "invalid IPv6 registry address";
                        return false;
                }
                i++;
        } else {
                for (;;) {
                        size_t start = i;
                        while (i < len && (is_alnum(s[i]) || s[i] == '-'))
                                i++;
                        if (i == start || s[start] == '-' || s[i - 1] == '-') {
                                *detail = "invalid registry host name";
                                return false;
                        }
                        if (i < len && s[i] == '.') {
                                i++;
                                continue;
                        }
                        break;
                }
        }
        hostlen = i;
        if (hostlen > REF_HOST_MAX) {
                /* no DNS name is longer; it also keeps a normalized reference within
                 * REF_STR_MAX, so that it parses again */
                *detail = "registry host longer than 253 characters";
                return false;
        }
        if (i < len) {
                size_t digits = 0;
                unsigned long port = 0;

                if (s[i] != ':') {
                        *detail = "invalid character in registry host";
                        return false;
                }
                for (i++; i < len; i++, digits++) {
                        if (s[i] < '0' || s[i] > '9' || digits >= 5) {
                                *detail = "invalid registry port";
                                return false;
                        }
                        port = port * 10 + (unsigned long) (s[i] - '0');
                }
                if (digits == 0 || port == 0 || port > 65535) {
                        *detail = "invalid registry port";
                        return false;
                }
        }
        *ret_hostlen = hostlen;
        return true;
}

static bool has_upper(const char *s, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (s[i] >= 'A' && s[i] <= 'Z')
                        return true;
        return false;
}

static bool is_hex64(const char *s, size_t len) {
        if (len != 64)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

ref_t *ref_free(ref_t *r) {
        if (!r)
                return NULL;
        free(r->domain);
        free(r->host);
        free(r->port);
        free(r->path);
        free(r->name);
        free(r->tag);
        free(r->full);
        free(r);
        return NULL;
}
DEFINE_CLEANUP_FUNC(ref_t, ref_free);

int ref_parse(const char *s, ref_t **ret, const char **reterr_detail) {
        _cleanup_(ref_freep) ref_t *r = NULL;
        const char *detail = NULL, *at, *namep, *slash, *colon, *domp = NULL, *pathp;
        size_t len, namelen, domlen = 0, pathlen, hostlen = 0, taglen = 0;
        const char *tagp = NULL;
        bool library = false;
        int n;

#define FAIL(msg) do { detail = (msg); goto fail; } while (0)
        if (!s)
                FAIL("empty reference");
        len = strnlen(s, REF_STR_MAX + 1);
        if (len == 0)
                FAIL("empty reference");
        if (len > REF_STR_MAX)
                FAIL("reference too long");
        for (size_t i = 0; i < len; i++)
                if ((unsigned char) s[i] <= ' ' || (unsigned char) s[i] >= 0x7f)
                        FAIL("reference contains a space, control or non-ASCII character");

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;

        /* digest */
        at = memchr(s, '@', len);
        namelen = at ? (size_t) (at - s) : len;
        if (at) {
                if (memchr(at + 1, '@', len - namelen - 1))
                        FAIL("more than one '@'");
                if (digest_parse_n(at + 1, len - namelen - 1, &r->digest) < 0)
                        FAIL("invalid digest (want sha256:<64 lowercase hex> or sha512:<128 lowercase hex>)");
                r->has_digest = true;
                memcpy(r->digest_str, r->digest.str, sizeof(r->digest_str));
        }
        if (namelen == 0)
                FAIL("missing repository name");

        /* tag: a ':' after the last '/' */
        namep = s;
        slash = memrchr(namep, '/', namelen);
        colon = memrchr(slash ? slash : namep, ':', namelen - (size_t) ((slash ? slash : namep) - namep));
        if (colon) {
                tagp = colon + 1;
                taglen = namelen - (size_t) (tagp - namep);
                namelen = (size_t) (colon - namep);
                if (taglen == 0)
                        FAIL("empty tag");
                if (taglen > NAME_TAG_MAX)
                        FAIL("tag longer than 128 characters");
                if (!name_tag_valid(tagp, taglen))
                        FAIL("invalid tag (allowed: [A-Za-z0-9_][A-Za-z0-9_.-]*)");
                if (namelen == 0)
                        FAIL("missing repository name");
        }

        /* split domain like docker's splitDockerDomain */
        slash = memchr(namep, '/', namelen);
        if (slash) {
                size_t first = (size_t) (slash - namep);
                bool dom = memchr(namep, '.', first) || memchr(namep, ':', first) ||
                           (first == 9 && memcmp(namep, "localhost", 9) == 0) ||
                           has_upper(namep, first);
                if (dom) {
                        domp = namep;
                        domlen = first;
                }
        }
        if (domp) {
                if (!domain_valid(domp, domlen, &hostlen, &detail))
                        goto fail;
                pathp = domp + domlen + 1;
                pathlen = namelen - domlen - 1;
        } else {
                pathp = namep;
                pathlen = namelen;
        }
        if (pathlen == 0)
                FAIL("missing repository path");
        if (has_upper(pathp, pathlen))
                FAIL("repository name must be lowercase");
        if (!domp && !memchr(pathp, '/', pathlen) && is_hex64(pathp, pathlen))
                FAIL("cannot specify a 64-byte hexadecimal string as repository name");
        if (pathlen > NAME_REPO_MAX || !name_repo_valid(pathp, pathlen))
                FAIL(pathlen > NAME_REPO_MAX ? "repository path longer than 255 characters"
                                             : "invalid repository path (components of [a-z0-9] joined by '.', '_', '__' or '-')");

        if (domp && ((domlen == 15 && memcmp(domp, "index.docker.io", 15) == 0) ||
                     (domlen == 9 && memcmp(domp, "docker.io", 9) == 0)))
                domp = NULL; /* index.docker.io means docker.io; both get "library/" */
        if (domp) {
                r->domain = strndup(domp, domlen);
                r->host = strndup(domp, hostlen);
                r->port = domlen > hostlen ? strndup(domp + hostlen + 1, domlen - hostlen - 1) : strdup("");
        } else {
                r->domain = strdup(REF_DEFAULT_DOMAIN);
                r->host = strdup(REF_DEFAULT_DOMAIN);
                r->port = strdup("");
                library = !memchr(pathp, '/', pathlen);
        }
        if (library) {
                r->path = malloc(8 + pathlen + 1);
                if (r->path) {
                        memcpy(r->path, "library/", 8);
                        memcpy(r->path + 8, pathp, pathlen);
                        r->path[8 + pathlen] = '\0';
                }
        } else
                r->path = strndup(pathp, pathlen);
        r->tag = tagp ? strndup(tagp, taglen) : strdup("");
        if (!r->domain || !r->host || !r->port || !r->path || !r->tag)
                return -ENOMEM;
        if (strlen(r->path) > REF_PATH_MAX)
                FAIL("repository path longer than 255 characters");
        if (asprintf(&r->name, "%s/%s", r->domain, r->path) < 0) {
                r->name = NULL;
                return -ENOMEM;
        }
        n = asprintf(&r->full, "%s%s%s%s%s", r->name,
                     tagp ? ":" : (r->has_digest ? "" : ":latest"), r->tag,
                     r->has_digest ? "@" : "", r->digest_str);
        if (n < 0) {
                r->full = NULL;
                return -ENOMEM;
        }
        *ret = TAKE_PTR(r);
        return 0;
fail:
        if (reterr_detail)
                *reterr_detail = detail;
        return BERTH_EREF_INVALID;
#undef FAIL
}

const char *ref_domain(const ref_t *r) { return r->domain; }
const char *ref_host(const ref_t *r) { return r->host; }
const char *ref_port(const ref_t *r) { return r->port; }
const char *ref_path(const ref_t *r) { return r->path; }
const char *ref_name(const ref_t *r) { return r->name; }
const char *ref_tag(const ref_t *r) { return r->tag; }
const char *ref_digest_str(const ref_t *r) { return r->digest_str; }
const digest_t *ref_digest(const ref_t *r) { return r->has_digest ? &r->digest : NULL; }
const char *ref_full(const ref_t *r) { return r->full; }

const char *ref_manifest_ref(const ref_t *r) {
        if (r->has_digest)
                return r->digest_str;
        return r->tag[0] ? r->tag : "latest";
}

const char *ref_effective_tag(const ref_t *r) {
        if (r->tag[0])
                return r->tag;
        return r->has_digest ? "" : "latest";
}
