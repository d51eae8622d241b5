/* tests/unit/test-file.c: common/file.c, the one copy of "read a whole file under a
 * cap", "replace a file atomically" and "mkdir -p" that server and client share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/err.h"
#include "common/file.h"

typedef struct {
        char dir[64];
        mode_t umask_before;
} fixture_t;

static int setup(void **state) {
        fixture_t *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-file.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->umask_before = umask(022);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture_t *f = *state;
        char cmd[128];

        umask(f->umask_before);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static char *in(const fixture_t *f, const char *name) {
        char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", f->dir, name) > 0);
        return p;
}

static void put(const char *path, const char *text) {
        FILE *fp = fopen(path, "w");
        assert_non_null(fp);
        assert_int_equal(fputs(text, fp) >= 0, 1);
        assert_int_equal(fclose(fp), 0);
}

static size_t entries(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

static void test_read_whole_file_nul_terminated(void **state) {
        fixture_t *f = *state;
        char *p = in(f, "a"), *buf = NULL;
        size_t len = 0;

        put(p, "hello\nworld");
        assert_int_equal(file_read_all(p, 1024, &buf, &len), 0);
        assert_int_equal(len, 11);
        assert_string_equal(buf, "hello\nworld");
        free(buf);
        buf = NULL;
        /* the length is optional */
        assert_int_equal(file_read_all(p, 11, &buf, NULL), 0);
        assert_string_equal(buf, "hello\nworld");
        free(buf);
        free(p);
}

static void test_read_empty_file(void **state) {
        fixture_t *f = *state;
        char *p = in(f, "empty"), *buf = NULL;
        size_t len = 99;

        put(p, "");
        assert_int_equal(file_read_all(p, 0, &buf, &len), 0);
        assert_int_equal(len, 0);
        assert_string_equal(buf, "");
        free(buf);
        free(p);
}

static void test_read_over_cap_is_etoobig_and_writes_nothing(void **state) {
        fixture_t *f = *state;
        char *p = in(f, "big"), *buf = (char *) "untouched";
        size_t len = 7;

        put(p, "0123456789");
        assert_int_equal(file_read_all(p, 9, &buf, &len), BERTH_ETOOBIG);
        assert_string_equal(buf, "untouched");
        assert_int_equal(len, 7);
        free(p);
}

static void test_read_missing_directory_and_fifo(void **state) {
        fixture_t *f = *state;
        char *p = in(f, "missing"), *fifo = in(f, "fifo"), *buf = NULL;

        assert_int_equal(file_read_all(p, 10, &buf, NULL), -ENOENT);
        assert_int_equal(file_read_all(f->dir, 10, &buf, NULL), -EINVAL);
        /* not a regular file: refused without blocking on the open */
        assert_int_equal(mkfifo(fifo, 0600), 0);
        int keep = open(fifo, O_RDWR | O_NONBLOCK); /* a writer, so open(O_RDONLY) returns */
        assert_true(keep >= 0);
        assert_int_equal(file_read_all(fifo, 10, &buf, NULL), -EINVAL);
        close(keep);
        assert_null(buf);
        free(p);
        free(fifo);
}

static void test_write_atomic_creates_with_exact_mode(void **state) {
        fixture_t *f = *state;
        char *p = in(f, "cert"), *k = in(f, "key"), *buf = NULL;
        struct stat st;

        /* the mode given is the file's mode, whatever the umask */
        umask(077);
        assert_int_equal(file_write_atomic(p, "public", 6, 0644), 0);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        umask(0);
        assert_int_equal(file_write_atomic(k, "secret", 6, 0600), 0);
        assert_int_equal(stat(k, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(file_read_all(p, 100, &buf, NULL), 0);
        assert_string_equal(buf, "public");
        free(buf);
        /* no temporary file left behind */
        assert_int_equal(entries(f->dir), 2);
        free(p);
        free(k);
}

static void test_write_atomic_replaces_with_new_inode(void **state) {
        fixture_t *f = *state;
        char *p = in(f, "index.json"), *buf = NULL;
        struct stat before, after;
        size_t len = 0;

        put(p, "old content, longer than the new");
        assert_int_equal(stat(p, &before), 0);
        assert_int_equal(file_write_atomic(p, "new", 3, 0644), 0);
        assert_int_equal(stat(p, &after), 0);
        /* renamed into place: a reader holding the old file keeps the old bytes */
        assert_true(before.st_ino != after.st_ino);
        assert_int_equal(file_read_all(p, 100, &buf, &len), 0);
        assert_int_equal(len, 3);
        assert_string_equal(buf, "new");
        free(buf);
        /* zero bytes is a valid content */
        assert_int_equal(file_write_atomic(p, NULL, 0, 0644), 0);
        assert_int_equal(stat(p, &after), 0);
        assert_int_equal(after.st_size, 0);
        assert_int_equal(entries(f->dir), 1);
        free(p);
}

static void test_write_atomic_failure_leaves_target_and_no_temp(void **state) {
        fixture_t *f = *state;
        char *d = in(f, "adir"), *missing = in(f, "nodir/file");

        /* the target is a directory: rename fails, the directory stays, no temporary file */
        assert_int_equal(mkdir(d, 0755), 0);
        assert_int_equal(file_write_atomic(d, "x", 1, 0644), -EISDIR);
        assert_int_equal(entries(f->dir), 1);
        assert_int_equal(entries(d), 0);
        /* the directory does not exist */
        assert_int_equal(file_write_atomic(missing, "x", 1, 0644), -ENOENT);
        assert_int_equal(entries(f->dir), 1);
        free(d);
        free(missing);
}

static void test_mkdir_p_creates_parents_with_mode(void **state) {
        fixture_t *f = *state;
        char *p = in(f, "a/b//c/"), *c = in(f, "a/b/c"), *a = in(f, "a");
        struct stat st;

        umask(0);
        assert_int_equal(file_mkdir_p(p, 0750), 0);
        assert_int_equal(stat(c, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0750);
        assert_int_equal(stat(a, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0750);
        /* again: nothing to do, and an existing directory keeps its mode */
        assert_int_equal(chmod(c, 0700), 0);
        assert_int_equal(file_mkdir_p(c, 0755), 0);
        assert_int_equal(stat(c, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0700);
        free(p);
        free(c);
        free(a);
}

static void test_mkdir_p_refuses_a_file_in_the_way(void **state) {
        fixture_t *f = *state;
        char *file = in(f, "file"), *below = in(f, "file/sub"), *self = in(f, "file");

        put(file, "x");
        assert_int_equal(file_mkdir_p(self, 0755), -ENOTDIR);
        assert_int_equal(file_mkdir_p(below, 0755), -ENOTDIR);
        assert_int_equal(file_mkdir_p("", 0755), -EINVAL);
        free(file);
        free(below);
        free(self);
}

static void test_fsync_parent(void **state) {
        fixture_t *f = *state;
        char *p = in(f, "x"), *gone = in(f, "nodir/x");

        assert_int_equal(file_fsync_parent(p), 0);   /* the directory need not hold the file yet */
        assert_int_equal(file_fsync_parent("/etc"), 0);
        assert_int_equal(file_fsync_parent("bare-name"), 0); /* "." */
        assert_int_equal(file_fsync_parent(gone), -ENOENT);
        free(p);
        free(gone);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_read_whole_file_nul_terminated, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_empty_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_over_cap_is_etoobig_and_writes_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_missing_directory_and_fifo, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_atomic_creates_with_exact_mode, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_atomic_replaces_with_new_inode, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_atomic_failure_leaves_target_and_no_temp, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mkdir_p_creates_parents_with_mode, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mkdir_p_refuses_a_file_in_the_way, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fsync_parent, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
