/* storage/blobstore.c: choosing a blob-store driver by URL. */
#include <errno.h>
#include <string.h>
#include "storage/blobstore.h"
#include "storage/s3.h"

int blobstore_open_url(const char *url, const char *ca_file, blobstore_t **ret, const char **reterr_detail) {
        const char *detail = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        if (!url || !*url || strcmp(url, "file") == 0) {
                *ret = NULL;
                return 0;
        }
        if (strncmp(url, "s3://", 5) == 0) {
                r = s3_blobstore_open(url, ca_file, ret, &detail);
                if (r < 0 && reterr_detail)
                        *reterr_detail = detail;
                return r;
        }
        if (reterr_detail)
                *reterr_detail = "the storage is 'file' or 's3://BUCKET[/PREFIX]?endpoint=URL&region=REGION'";
        return -EINVAL;
}

blobstore_t *blobstore_free(blobstore_t *bs) {
        if (bs && bs->ops->free)
                bs->ops->free(bs);
        return NULL;
}
