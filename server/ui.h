/* server/ui.h: the web UI's files, compiled into berthd (server/ui-assets.c, made by
 * scripts/ui-embed.sh from ui/ at build time), and the routes that serve them. */
#pragma once
#include <stddef.h>

typedef struct ui_asset {
        const char *name;            /* "index.html", "assets/app.js", ... */
        const char *content_type;
        const unsigned char *data;   /* the bytes as served */
        size_t len;
        const unsigned char *gz;     /* gzip -9n of data, NULL when no smaller */
        size_t gz_len;
        const char *etag;            /* "\"<hex>\"" of data */
        const char *etag_gz;         /* "\"<hex>-gz\"": the gzip representation's */
} ui_asset_t;

/* The hash of the asset set: the assets are served under /ui/assets/<hash>/. */
extern const char ui_build_hash[];
extern const ui_asset_t ui_assets[];
extern const size_t ui_n_assets;

/* The asset named name (length len), or NULL. */
const ui_asset_t *ui_asset_find(const char *name, size_t len);
