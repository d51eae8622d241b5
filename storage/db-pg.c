/* storage/db-pg.c: the PostgreSQL engine of storage/db (libpq). Being written. */
#include <errno.h>
#include "common/err.h"
#include "common/macro.h"
#include "storage/db-internal.h"

static int pg_open(const char *target, const char *password, void **ret) {
        (void) target;
        (void) password;
        (void) ret;
        return BERTH_EUNSUPPORTED;
}

const db_engine_t db_engine_pg = {
        .name = "postgresql",
        .shared = true,
        .open = pg_open,
};
