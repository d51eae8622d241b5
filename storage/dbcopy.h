/* storage/dbcopy.h: all of berth's metadata copied from one database to another
 * (`berthd db copy`: an installation moving from its SQLite file to a PostgreSQL
 * server shared by several replicas, or back).
 *
 * The copy is one snapshot of the source (its rows read in one transaction) and one
 * transaction on the target: the target holds all of it or none of it. Tables go in
 * foreign-key order with their keys as they are (repository ids, audit ids), then
 * the target's key generators are moved past them (db_sync_keys). Rows stream, a page
 * at a time in key order: no table is ever held in memory.
 *
 * The tables and their columns are listed below (dbcopy_tables); a unit test
 * compares that list with the SQLite schema, so a table or a column added by a
 * later migration cannot be left out of the copy unnoticed. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "storage/db.h"

typedef enum {
        DBCOPY_INT,
        DBCOPY_TEXT,
        DBCOPY_BLOB,
} dbcopy_type_t;

typedef struct {
        const char *name; /* as written in SQL (the column `user` double-quoted) */
        dbcopy_type_t type;
} dbcopy_col_t;

/* One table: its columns in the order of its statements, the primary key first.
 * The statements are static strings (storage/db.h caches them by address). */
typedef struct {
        const char *name;
        const dbcopy_col_t *cols;
        int n_cols;
        int n_key;             /* the first n_key columns: the primary key, the order of pages */
        const char *sql_first; /* the first page: every column, by key, DBCOPY_PAGE rows at most */
        const char *sql_next;  /* the page after the key ?1..?n_key */
        const char *sql_insert; /* one row: ?1..?n_cols */
        const char *sql_count;  /* SELECT count(*) */
        /* The rows that make a target "not empty", when not all of them are (NULL:
         * sql_count): auth_state holds one row from the moment its schema is made. */
        const char *sql_used;
        /* Run on the target before the copy (NULL: nothing): removes what the
         * target's schema creation put there (auth_state's row), since the source's
         * row, with its install key, replaces it. */
        const char *sql_clear;
} dbcopy_table_t;

#define DBCOPY_PAGE 500 /* rows per page read from the source */
#define DBCOPY_TABLES_MAX 32

/* The tables, in the order they are copied (referenced tables first). */
const dbcopy_table_t *dbcopy_tables(size_t *ret_n);
/* The table named name, or NULL. */
const dbcopy_table_t *dbcopy_table(const char *name);

typedef struct {
        const char *table; /* borrowed from the table list */
        int64_t source;    /* rows in the source's snapshot */
        int64_t target;    /* rows in the target after the copy */
} dbcopy_count_t;

typedef struct {
        int source_version, target_version; /* the schema versions */
        const char *used_table;             /* on -ENOTEMPTY: the first table of the target with rows */
        int64_t used_rows;                  /* ... and how many */
        size_t n;                           /* tables counted so far */
        dbcopy_count_t counts[DBCOPY_TABLES_MAX];
        int64_t rows;                       /* rows copied in all */
        bool committed;                     /* the target's transaction was committed */
} dbcopy_result_t;

/* Is db empty of berth's rows (what its schema creation writes aside)? 1 yes,
 * 0 no (*ret_table, *ret_rows: the first table with rows; either may be NULL), <0. */
int dbcopy_empty(db_t *db, const char **ret_table, int64_t *ret_rows);

/* Copies every table of from into to, which must be empty (its schema made by
 * db_open_opts) and at the same schema version as from. Returns 0 when the target
 * holds exactly the source's rows (ret->counts, per table, say so); else:
 *   BERTH_EUNSUPPORTED  the schema versions differ (ret->source_version, target_version);
 *   -ENOTEMPTY          the target holds rows (ret->used_table, used_rows);
 *   -EIO                the target's row counts differ from the source's (ret->counts);
 *                       found before the commit (ret->committed false), nothing was written;
 *   -EINVAL             from and to are one db_t;
 *   another error of storage/db (nothing written to the target).
 * ret is filled as far as the copy went, on failure too. */
int dbcopy_run(db_t *from, db_t *to, dbcopy_result_t *ret);
