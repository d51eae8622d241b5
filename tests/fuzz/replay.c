/* tests/fuzz/replay.c: a plain main() for a libFuzzer target, so its saved inputs (the
 * seed corpus and every input that once crashed or hung it) replay in the normal test
 * suite without clang. Linked with one target's LLVMFuzzerTestOneInput and the regular
 * libraries; under the sanitizer build the replays run with ASan + UBSan.
 *   replay-NAME FILE|DIR...   runs the function once on each file (directories: on
 *                             each regular file inside, not recursive, in name order)
 * Each input gets an exact-size heap copy (an over-read is caught by ASan) and at most
 * REPLAY_TIMEOUT seconds (default 10; a hang dies of SIGALRM). An abort or a sanitizer
 * report ends the program with a failure; the name of the file is printed before it
 * runs, so the log says which one. Exit 0 when every input ran, 1 when a path could not
 * be read or no input was found. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned timeout_s = 10;

static int read_all(const char *path, uint8_t **ret, size_t *ret_len) {
        FILE *f = fopen(path, "rb");
        uint8_t *buf = NULL, *nb;
        size_t len = 0, cap = 0, n;

        if (!f)
                return -errno;
        for (;;) {
                if (len == cap) {
                        cap = cap ? cap * 2 : 4096;
                        nb = realloc(buf, cap);
                        if (!nb) {
                                free(buf);
                                fclose(f);
                                return -ENOMEM;
                        }
                        buf = nb;
                }
                n = fread(buf + len, 1, cap - len, f);
                len += n;
                if (n == 0)
                        break;
        }
        if (ferror(f)) {
                free(buf);
                fclose(f);
                return -EIO;
        }
        fclose(f);
        /* exactly len bytes, so reading one past the input is an ASan report */
        nb = malloc(len ? len : 1);
        if (!nb) {
                free(buf);
                return -ENOMEM;
        }
        memcpy(nb, buf, len);
        free(buf);
        *ret = nb;
        *ret_len = len;
        return 0;
}

static int run_file(const char *path) {
        uint8_t *data = NULL;
        size_t len = 0;
        int r = read_all(path, &data, &len);

        if (r < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(-r));
                return r;
        }
        printf("replay: %s (%zu bytes)\n", path, len);
        fflush(stdout);
        alarm(timeout_s);
        LLVMFuzzerTestOneInput(data, len);
        alarm(0);
        free(data);
        return 0;
}

static int cmp_names(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static int run_dir(const char *dir, size_t *count) {
        DIR *d = opendir(dir);
        struct dirent *de;
        char **names = NULL, **nn;
        size_t n = 0;
        int r = 0;

        if (!d) {
                fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
                return -errno;
        }
        while ((de = readdir(d))) {
                char *p;
                struct stat st;

                if (de->d_name[0] == '.' || strcmp(de->d_name, "README") == 0 ||
                    strcmp(de->d_name, "README.md") == 0)
                        continue;
                if (asprintf(&p, "%s/%s", dir, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (stat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
                        free(p);
                        continue;
                }
                nn = realloc(names, (n + 1) * sizeof(*names));
                if (!nn) {
                        free(p);
                        r = -ENOMEM;
                        break;
                }
                names = nn;
                names[n++] = p;
        }
        closedir(d);
        if (names)
                qsort(names, n, sizeof(*names), cmp_names);
        for (size_t i = 0; i < n; i++) {
                if (r == 0 && (r = run_file(names[i])) == 0)
                        (*count)++;
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv) {
        const char *t = getenv("REPLAY_TIMEOUT");
        size_t count = 0;

        if (t && atoi(t) > 0)
                timeout_s = (unsigned) atoi(t);
        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 2;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;
                int r;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
                        return 1;
                }
                if (S_ISDIR(st.st_mode))
                        r = run_dir(argv[i], &count);
                else if ((r = run_file(argv[i])) == 0)
                        count++;
                if (r < 0)
                        return 1;
        }
        printf("replay: %zu inputs, no failure\n", count);
        return count > 0 ? 0 : 1;
}
