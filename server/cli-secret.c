/* server/cli-secret.c: see cli-secret.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/file.h"
#include "common/macro.h"
#include "common/secretbox.h"
#include "server/cli-secret.h"

int cli_secret_seal(const char *data_dir, FILE *err, const char *context, const char *secret, uint8_t **ret,
                    size_t *ret_len) {
        _cleanup_free_ char *path = NULL;
        secretbox_t *sb = NULL;
        bool from_env = false, loose = false;
        int r;

        if (!err || !context || !secret || !ret || !ret_len)
                return -EINVAL;
        r = secretbox_key_path(data_dir, &path, &from_env);
        if (r < 0)
                return r;
        /* the default key lives in the data directory: made with it if need be; a
         * key named by BERTH_SECRET_KEY_FILE is the operator's to make */
        if (!from_env && data_dir && (r = file_mkdir_p(data_dir, 0700)) < 0) {
                fprintf(err, "berthd: cannot create data directory %s: %s\n", data_dir, berth_strerror(r));
                return r;
        }
        r = secretbox_open(path, !from_env, &sb, &loose);
        if (r < 0) {
                fprintf(err, "berthd: secret key %s: %s%s\n", path,
                        r == BERTH_ECONFIG ? "not a key (64 hexadecimal digits)" : berth_strerror(r),
                        r == -ENOENT ? " (make one: openssl rand -hex 32 > FILE; chmod 600 FILE)" : "");
                return r;
        }
        if (loose)
                fprintf(err, "berthd: warning: the secret key %s may be read by other users: make it mode 0600\n",
                        path);
        r = secretbox_seal(sb, context, secret, strlen(secret), ret, ret_len);
        secretbox_free(sb);
        return r;
}
