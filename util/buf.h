/* A growing buffer of bytes, NUL-terminated, for strings and bodies built piece by piece. */
#ifndef TFS_UTIL_BUF_H
#define TFS_UTIL_BUF_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/* Zeroed, it is empty. data is NULL until the first append; then it holds len bytes and a
 * NUL after them, in cap bytes. A failed append poisons the buffer: the later ones do
 * nothing and buf_take gives NULL, so a builder may check once, at the end. */
struct buf {
	char *data;
	size_t len, cap;
	bool failed;
};

/* Room for n more bytes and the NUL, the capacity doubling as it grows.
 * Returns 0, or -ENOMEM (then and after a failed append). */
int buf_reserve(struct buf *b, size_t n);

/* Appends n bytes (any bytes, NULs too), a string, one character, or printf's output.
 * Each returns 0 or -ENOMEM (buf_appendf also -EINVAL when fmt cannot be formatted). */
int buf_append(struct buf *b, const void *data, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_append_char(struct buf *b, char c);
int buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vappendf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Hands the string to the caller (malloc'd; "" when nothing was appended) and leaves b
 * empty. NULL when an append failed or memory ran out: b is then freed. */
char *buf_take(struct buf *b);

/* Frees the data; b is empty again. */
void buf_free(struct buf *b);
#endif
