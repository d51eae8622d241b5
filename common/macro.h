/* common/macro.h: cleanup attributes and small helpers shared by every module. */
#pragma once
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define UNUSED(x) ((void) (x))

static inline void freep(void *p) { free(*(void **) p); }
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
                errno = saved;
        }
}
static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Take ownership out of a cleanup variable. */
#define TAKE_PTR(p)                              \
        ({                                       \
                __typeof__(p) _tp_ = (p);        \
                (p) = NULL;                      \
                _tp_;                            \
        })
#define TAKE_FD(fd)                              \
        ({                                       \
                int _tf_ = (fd);                 \
                (fd) = -1;                       \
                _tf_;                            \
        })

/* Declare a cleanup function for a type whose destructor returns NULL. */
#define DEFINE_CLEANUP_FUNC(type, func)                  \
        static inline void func##p(type **p) {           \
                if (*p)                                  \
                        (void) func(*p);                 \
        }

#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

/* The value of a hexadecimal digit (either case), or -1. */
static inline int hex_digit_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}
