/* common/secretbox.c: AES-256-GCM under a key file (see secretbox.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "common/err.h"
#include "common/file.h"
#include "common/macro.h"
#include "common/secretbox.h"

#define KEY_LEN 32
#define KEY_ID_LEN 4
#define NONCE_LEN 12
#define TAG_LEN 16
#define VERSION 1
#define KEY_FILE_MAX 256 /* 64 digits and a newline, with room for \r\n and spaces */

struct secretbox {
        uint8_t key[KEY_LEN];
        uint8_t id[KEY_ID_LEN];
};

_Static_assert(SECRETBOX_OVERHEAD == 1 + KEY_ID_LEN + NONCE_LEN + TAG_LEN, "SECRETBOX_OVERHEAD");

int secretbox_key_path(const char *data_dir, char **ret, bool *ret_from_env) {
        const char *env = getenv(SECRETBOX_KEY_ENV);
        char *p = NULL;

        if (!ret)
                return -EINVAL;
        if (env && *env)
                p = strdup(env);
        else if (!data_dir || asprintf(&p, "%s/%s", data_dir, SECRETBOX_KEY_FILE) < 0)
                p = NULL;
        if (!p)
                return data_dir || (env && *env) ? -ENOMEM : -EINVAL;
        if (ret_from_env)
                *ret_from_env = env && *env;
        *ret = p;
        return 0;
}

/* 64 hexadecimal digits, then only white space. */
static int parse_key(const char *s, size_t len, uint8_t key[KEY_LEN]) {
        size_t i;

        if (len < 2 * KEY_LEN)
                return BERTH_ECONFIG;
        for (i = 0; i < KEY_LEN; i++) {
                int hi = hex_digit_value(s[2 * i]), lo = hex_digit_value(s[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return BERTH_ECONFIG;
                key[i] = (uint8_t) (hi << 4 | lo);
        }
        for (i = 2 * KEY_LEN; i < len; i++)
                if (s[i] != '\n' && s[i] != '\r' && s[i] != ' ' && s[i] != '\t')
                        return BERTH_ECONFIG;
        return 0;
}

static int key_id(const uint8_t key[KEY_LEN], uint8_t id[KEY_ID_LEN]) {
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        if (EVP_Digest(key, KEY_LEN, md, &n, EVP_sha256(), NULL) != 1 || n < KEY_ID_LEN)
                return BERTH_ECRYPTO;
        memcpy(id, md, KEY_ID_LEN);
        return 0;
}

/* A new key at path, never replacing one: written to a temporary file in the same
 * directory, synced, then linked into place. EEXIST from link: another process
 * made one first, and that one is the key. 0 (made or found), or <0. */
static int key_create(const char *path) {
        static const char hex[] = "0123456789abcdef";
        uint8_t key[KEY_LEN];
        char text[2 * KEY_LEN + 1];
        _cleanup_free_ char *tmp = NULL;
        int fd, r = 0;

        if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }
        if (RAND_bytes(key, sizeof(key)) != 1)
                return BERTH_ECRYPTO;
        for (size_t i = 0; i < KEY_LEN; i++) {
                text[2 * i] = hex[key[i] >> 4];
                text[2 * i + 1] = hex[key[i] & 15];
        }
        text[2 * KEY_LEN] = '\n';
        OPENSSL_cleanse(key, sizeof(key));
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                OPENSSL_cleanse(text, sizeof(text));
                return -errno;
        }
        if (fchmod(fd, 0600) < 0 || write(fd, text, sizeof(text)) != (ssize_t) sizeof(text) || fsync(fd) < 0)
                r = errno ? -errno : -EIO;
        OPENSSL_cleanse(text, sizeof(text));
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && link(tmp, path) < 0 && errno != EEXIST)
                r = -errno;
        (void) unlink(tmp);
        if (r == 0)
                r = file_fsync_parent(path);
        return r;
}

int secretbox_open(const char *path, bool create, secretbox_t **ret, bool *ret_loose) {
        secretbox_t *sb;
        char *text = NULL;
        size_t len = 0;
        struct stat st;
        int r;

        if (!path || !*path || !ret)
                return -EINVAL;
        r = file_read_all(path, KEY_FILE_MAX, &text, &len);
        if (r == -ENOENT && create) {
                r = key_create(path);
                if (r < 0)
                        return r;
                r = file_read_all(path, KEY_FILE_MAX, &text, &len);
        }
        if (r == BERTH_ETOOBIG)
                return BERTH_ECONFIG;
        if (r < 0)
                return r;
        sb = calloc(1, sizeof(*sb));
        if (!sb) {
                OPENSSL_cleanse(text, len);
                free(text);
                return -ENOMEM;
        }
        r = parse_key(text, len, sb->key);
        OPENSSL_cleanse(text, len);
        free(text);
        if (r == 0)
                r = key_id(sb->key, sb->id);
        if (r < 0) {
                secretbox_free(sb);
                return r;
        }
        if (ret_loose)
                *ret_loose = stat(path, &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP));
        *ret = sb;
        return 0;
}

secretbox_t *secretbox_free(secretbox_t *sb) {
        if (sb) {
                OPENSSL_cleanse(sb, sizeof(*sb));
                free(sb);
        }
        return NULL;
}

static EVP_CIPHER_CTX *ctx_free(EVP_CIPHER_CTX *ctx) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
}
DEFINE_CLEANUP_FUNC(EVP_CIPHER_CTX, ctx_free)

static int aad(EVP_CIPHER_CTX *ctx, bool enc, const uint8_t header[1 + KEY_ID_LEN], const char *context) {
        int n;
        int (*update)(EVP_CIPHER_CTX *, unsigned char *, int *, const unsigned char *, int) =
                enc ? EVP_EncryptUpdate : EVP_DecryptUpdate;

        /* the version and key id are authenticated too, then the context */
        if (update(ctx, NULL, &n, header, 1 + KEY_ID_LEN) != 1)
                return BERTH_ECRYPTO;
        if (context && *context && update(ctx, NULL, &n, (const uint8_t *) context, (int) strlen(context)) != 1)
                return BERTH_ECRYPTO;
        return 0;
}

int secretbox_seal(const secretbox_t *sb, const char *context, const void *plain, size_t len, uint8_t **ret,
                   size_t *ret_len) {
        _cleanup_(ctx_freep) EVP_CIPHER_CTX *ctx = NULL;
        uint8_t *out, *nonce, *ct;
        size_t total;
        int n = 0, r;

        if (!sb || (!plain && len) || !ret || !ret_len)
                return -EINVAL;
        if (len > SECRETBOX_PLAIN_MAX || (context && strlen(context) > 1024))
                return BERTH_ETOOBIG;
        total = len + SECRETBOX_OVERHEAD;
        out = malloc(total);
        if (!out)
                return -ENOMEM;
        out[0] = VERSION;
        memcpy(out + 1, sb->id, KEY_ID_LEN);
        nonce = out + 1 + KEY_ID_LEN;
        ct = nonce + NONCE_LEN;
        r = BERTH_ECRYPTO;
        if (RAND_bytes(nonce, NONCE_LEN) != 1 || !(ctx = EVP_CIPHER_CTX_new()) ||
            EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
            EVP_EncryptInit_ex(ctx, NULL, NULL, sb->key, nonce) != 1 || aad(ctx, true, out, context) < 0)
                goto fail;
        if (len > 0 && EVP_EncryptUpdate(ctx, ct, &n, plain, (int) len) != 1)
                goto fail;
        if (EVP_EncryptFinal_ex(ctx, ct + n, &n) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, ct + len) != 1)
                goto fail;
        *ret = out;
        *ret_len = total;
        return 0;
fail:
        OPENSSL_cleanse(out, total);
        free(out);
        return r;
}

int secretbox_unseal(const secretbox_t *sb, const char *context, const uint8_t *sealed, size_t len,
                     char **ret, size_t *ret_len) {
        _cleanup_(ctx_freep) EVP_CIPHER_CTX *ctx = NULL;
        const uint8_t *nonce, *ct, *tag;
        size_t plen;
        char *out;
        int n = 0;

        if (!sb || !sealed || !ret)
                return -EINVAL;
        if (len < SECRETBOX_OVERHEAD || len - SECRETBOX_OVERHEAD > SECRETBOX_PLAIN_MAX || sealed[0] != VERSION)
                return BERTH_ECRYPTO;
        if (CRYPTO_memcmp(sealed + 1, sb->id, KEY_ID_LEN) != 0)
                return -EKEYREJECTED;
        plen = len - SECRETBOX_OVERHEAD;
        nonce = sealed + 1 + KEY_ID_LEN;
        ct = nonce + NONCE_LEN;
        tag = ct + plen;
        out = malloc(plen + 1);
        if (!out)
                return -ENOMEM;
        if (!(ctx = EVP_CIPHER_CTX_new()) || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
            EVP_DecryptInit_ex(ctx, NULL, NULL, sb->key, nonce) != 1 || aad(ctx, false, sealed, context) < 0 ||
            (plen > 0 && EVP_DecryptUpdate(ctx, (uint8_t *) out, &n, ct, (int) plen) != 1) ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *) tag) != 1 ||
            EVP_DecryptFinal_ex(ctx, (uint8_t *) out + n, &n) != 1) {
                OPENSSL_cleanse(out, plen + 1);
                free(out);
                return BERTH_ECRYPTO;
        }
        out[plen] = '\0';
        *ret = out;
        if (ret_len)
                *ret_len = plen;
        return 0;
}
