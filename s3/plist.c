/* A flat listing of a prefix at the speed S3 allows: after the first page, the rest of the
 * key space is cut into ranges at the prefix's subdirectories and listed in parallel.
 *
 * ListObjectsV2 pages can only be had one after another (each needs the token of the one
 * before), so a large bucket costs ceil(N/1000) round trips in a row. start-after lets a
 * listing begin anywhere; one delimiter listing after the first page names the
 * subdirectories that remain, and with them the boundaries of S3_LIST_RANGES ranges. A
 * range (b_i, b_i+1] is listed from start-after b_i until a key passes b_i+1; the page
 * that crosses a boundary is the only one listed twice in part. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "s3/s3.h"

/* One range's pages, kept until every range is in. */
struct range {
	struct s3_client *c;
	const char *prefix;
	char *after;                /* start-after: keys above it */
	char *until;                /* keys up to it belong here; NULL: to the end */
	struct s3_list_page *pages;
	size_t npages;
	int rc;
};

/* Is key (len bytes) above boundary? Keys are compared as bytes, as S3 sorts them. */
static bool above(const struct s3_object *o, const char *boundary)
{
	size_t n = strlen(boundary), m = o->key_len < n ? o->key_len : n;
	int cmp = memcmp(o->key, boundary, m);
	return cmp > 0 || (cmp == 0 && o->key_len > n);
}

/* Drops the page's keys past the range's end; says whether any were. */
static bool trim(struct s3_list_page *p, const char *until)
{
	size_t keep = p->nobjects;
	while (until && keep && above(&p->objects[keep - 1], until))
		keep--;
	for (size_t i = keep; i < p->nobjects; i++) {
		free(p->objects[i].key);
		free(p->objects[i].etag);
	}
	bool crossed = keep < p->nobjects;
	p->nobjects = keep;
	return crossed;
}

/* Keeps a page of the range, up to its end; enough once a page has passed it. */
static int range_take(void *ctx, struct s3_list_page *p)
{
	struct range *r = ctx;
	bool crossed = trim(p, r->until);
	struct s3_list_page *pages = realloc(r->pages, (r->npages + 1) * sizeof(*pages));
	if (!pages) {
		s3_list_page_free(p);
		return -ENOMEM;
	}
	r->pages = pages;
	r->pages[r->npages++] = *p;
	return crossed ? S3_LIST_STOP : 0;
}

static void *list_range(void *arg)
{
	struct range *r = arg;
	r->rc = s3_list_each_from(r->c, r->prefix, NULL, r->after, NULL, range_take, r);
	return NULL;
}

/* "team0250/" -> "team0250.": every key below the subdirectory sorts above it, every key
 * of the subdirectories before it below ('.' is '/' - 1). */
static char *boundary(const char *subdir)
{
	char *b = strdup(subdir);
	if (b && *b)
		b[strlen(b) - 1] = '.';
	return b;
}

/* How many subdirectories of prefix the page's keys fall in (keys come sorted). */
static size_t dirs_of(const struct s3_list_page *p, size_t plen)
{
	size_t n = 0;
	const char *prev = NULL;
	size_t prev_len = 0;
	for (size_t i = 0; i < p->nobjects; i++) {
		const char *rel = p->objects[i].key + plen;
		const char *slash = p->objects[i].key_len > plen ? strchr(rel, '/') : NULL;
		size_t len = slash ? (size_t)(slash - rel) : 0;
		if (len && (!prev || len != prev_len || memcmp(rel, prev, len) != 0))
			n++;
		if (len) {
			prev = rel;
			prev_len = len;
		}
	}
	return n;
}

/* The ranges after key `after`, cut at the subdirectories found. Returns how many (0: too
 * few subdirectories, or too few keys to be worth the cut, judged from the keys per
 * directory on the first page) or -ENOMEM. */
static int plan(struct s3_client *c, const char *prefix, const char *after,
                const struct s3_list_page *first, const struct s3_list_page *dirs,
                struct range *r)
{
	size_t n = dirs->nprefixes, seen = dirs_of(first, strlen(prefix));
	size_t guess = seen ? first->nobjects / seen * n : 0;   /* keys left, roughly */
	if (n < 2 * S3_LIST_RANGES || (!dirs->truncated && guess < 2 * 1000))
		return 0;
	for (int i = 0; i < S3_LIST_RANGES; i++) {
		r[i] = (struct range){ .c = c, .prefix = prefix };
		r[i].after = i ? boundary(dirs->prefixes[n * (size_t)i / S3_LIST_RANGES]) : strdup(after);
		if (!r[i].after)
			return -ENOMEM;
		if (i)
			r[i - 1].until = strdup(r[i].after);
		if (i && !r[i - 1].until)
			return -ENOMEM;
	}
	return S3_LIST_RANGES;
}

static void ranges_free(struct range *r, int n)
{
	for (int i = 0; i < n; i++) {
		for (size_t j = 0; j < r[i].npages; j++)
			s3_list_page_free(&r[i].pages[j]);
		free(r[i].pages);
		free(r[i].after);
		free(r[i].until);
	}
}

/* Lists the ranges at once, then hands their pages over in key order. */
static int run_ranges(struct range *r, int n, s3_page_fn on_page, void *ctx)
{
	pthread_t th[S3_LIST_RANGES];
	bool started[S3_LIST_RANGES] = { false };
	for (int i = 0; i < n; i++)
		started[i] = pthread_create(&th[i], NULL, list_range, &r[i]) == 0;
	int rc = 0;
	for (int i = 0; i < n; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			list_range(&r[i]);   /* no thread to be had: this one lists it */
		rc = rc ? rc : r[i].rc;
	}
	for (int i = 0; i < n; i++) {
		for (size_t j = 0; j < r[i].npages; j++) {
			if (rc == 0)
				rc = on_page(ctx, &r[i].pages[j]);
			else
				s3_list_page_free(&r[i].pages[j]);
		}
		r[i].npages = 0;
	}
	return rc;
}

/* The first page says whether there is more; the subdirectories after its last key say
 * where to cut the rest. */
int s3_list_all(struct s3_client *c, const char *prefix, s3_page_fn on_page, void *ctx)
{
	struct s3_list_page first, dirs = { 0 };
	struct aws_error err;
	int rc = s3_list_page(c, prefix, NULL, NULL, &first, &err);
	if (rc < 0)
		return s3_list_each(c, prefix, NULL, on_page, ctx);   /* it says why, with retries */
	if (!first.truncated || !first.nobjects)
		return on_page(ctx, &first);
	const struct s3_object *last = &first.objects[first.nobjects - 1];
	char *after = strndup(last->key, last->key_len), *token = strdup(first.next_token);
	struct range r[S3_LIST_RANGES] = { 0 };
	int n = after && token ? 0 : -ENOMEM;
	if (n == 0 && s3_list_page_after(c, prefix, "/", after, NULL, &dirs, &err) == 0) {
		n = plan(c, prefix, after, &first, &dirs, r);
		s3_list_page_free(&dirs);
	}
	free(after);
	rc = n < 0 ? n : on_page(ctx, &first);
	if (n < 0)
		s3_list_page_free(&first);
	if (rc == 0 && n > 0)
		rc = run_ranges(r, n, on_page, ctx);
	else if (rc == 0)   /* too few subdirectories to cut at: one page after another */
		rc = s3_list_each_from(c, prefix, NULL, NULL, token, on_page, ctx);
	ranges_free(r, S3_LIST_RANGES);
	free(token);
	return rc;
}
