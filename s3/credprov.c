/* AWS credentials, and the provider: credentials from one source renewed ahead of their
 * expiry by one caller while the others go on with the current ones. */
#include "s3/credprov.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "util/log.h"

#define USABLE_MARGIN_S 10  /* credentials this close to expiry are not handed out */
#define RENEW_AHEAD_S 300   /* renew this long before expiry (half the lifetime if shorter) */
#define RETRY_AFTER_S 5     /* after a failed renewal */

/* Secrets are wiped before their memory goes back: it may be reused, or end in a core. */
static void free_secret(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

void aws_credentials_free(struct aws_credentials *c)
{
	if (!c)
		return;
	free(c->access_key);
	free_secret(c->secret_key);
	free_secret(c->session_token);
	free(c->source);
	memset(c, 0, sizeof(*c));
}

int aws_credentials_set(struct aws_credentials *out, const char *id, const char *secret,
                        const char *token, const char *source)
{
	memset(out, 0, sizeof(*out));
	out->source = strdup(source);
	out->access_key = strdup(id);
	out->secret_key = strdup(secret);
	out->session_token = token ? strdup(token) : NULL;
	if (out->source && out->access_key && out->secret_key && (!token || out->session_token))
		return 0;
	aws_credentials_free(out);
	return -ENOMEM;
}

int aws_credentials_copy(const struct aws_credentials *from, struct aws_credentials *to)
{
	int rc = aws_credentials_set(to, from->access_key, from->secret_key, from->session_token,
	                             from->source ? from->source : "");
	to->expiration = from->expiration;
	return rc;
}

bool aws_credentials_usable(const struct aws_credentials *c, time_t now)
{
	return !c->expiration || now < c->expiration - USABLE_MARGIN_S;
}

/* "expired at 2026-11-28T14:00:00Z", or "expire at ... (in under 10 s)", for messages. */
static void expiry_text(time_t expiration, time_t now, char *buf, size_t len)
{
	char when[32];
	struct tm tm;
	gmtime_r(&expiration, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (now < expiration)
		snprintf(buf, len, "expire at %s (in under %d s)", when, USABLE_MARGIN_S);
	else
		snprintf(buf, len, "expired at %s", when);
}

/* ---- the provider ---- */

struct aws_cred_provider {
	struct cred_source *source;     /* NULL: fixed credentials */
	aws_cred_fetch_fn *fetch;       /* renews from source */
	void (*release)(struct cred_source *source);
	pthread_mutex_t lock;           /* guards everything below */
	pthread_cond_t renewed;
	struct aws_credentials cur;
	bool have;
	bool renewing;
	time_t renew_at;                /* when to start renewing cur */
	time_t next_try;                /* after a failed renewal, not before this */
	int last_error;
	char *failing;                  /* the failed renewal's message, said once; NULL: fine */
	bool told_expired;              /* fixed credentials: their expiry was logged */
	char *label;                    /* where the first credentials came from */
};

static struct aws_cred_provider *provider_alloc(struct cred_source *source,
                                                aws_cred_fetch_fn *fetch,
                                                void (*release)(struct cred_source *source))
{
	struct aws_cred_provider *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->source = source;
	p->fetch = fetch;
	p->release = release;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->renewed, NULL);
	return p;
}

void aws_cred_provider_free(struct aws_cred_provider *p)
{
	if (!p)
		return;
	if (p->release)
		p->release(p->source);
	aws_credentials_free(&p->cur);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->renewed);
	free(p->label);
	free(p->failing);
	free(p);
}

/* Takes fresh as the current credentials. Called with p->lock held. */
static void install(struct aws_cred_provider *p, struct aws_credentials *fresh)
{
	time_t now = time(NULL), life = fresh->expiration ? fresh->expiration - now : 0;
	aws_credentials_free(&p->cur);
	p->cur = *fresh;
	memset(fresh, 0, sizeof(*fresh));
	p->have = true;
	p->renew_at = p->cur.expiration ? p->cur.expiration - (life / 2 < RENEW_AHEAD_S ? life / 2
	                                                                                : RENEW_AHEAD_S)
	                                : 0;
	p->last_error = 0;
	p->next_try = 0;
}

/* A renewal that brings credentials no more usable than those it replaces has failed:
 * taken, they would be due for renewal again at once, the source asked in a loop (botocore
 * fails it too: "refreshed credentials are still expired"). Frees fresh; returns -EACCES
 * with *err saying why. */
static int renewed_unusable(const struct aws_cred_provider *p, struct aws_credentials *fresh,
                            char **err)
{
	char expiry[80];
	expiry_text(fresh->expiration, time(NULL), expiry, sizeof(expiry));
	free(*err);
	if (asprintf(err, "%s answered credentials that %s: not used; have it give credentials that "
	             "are still valid, and check this host's clock",
	             fresh->source ? fresh->source : p->label ? p->label : "the source", expiry) < 0)
		*err = NULL;
	aws_credentials_free(fresh);
	return -EACCES;
}

/* A failed renewal is logged when it starts or its reason changes, not at every retry
 * (every few seconds while reads go on: a source that needs a person, such as an SSO login,
 * would flood the log); the status shows it meanwhile. Called with p->lock held. Takes err. */
static void renew_failed(struct aws_cred_provider *p, int rc, char *err)
{
	if (!err && asprintf(&err, "%s", strerror(-rc)) < 0)
		err = NULL;
	if (err && (!p->failing || strcmp(err, p->failing) != 0))
		log_error("renewing AWS credentials failed, retrying every %d s: %s", RETRY_AFTER_S, err);
	if (err) {
		free(p->failing);
		p->failing = err;
	}
	p->last_error = rc;
	p->next_try = time(NULL) + RETRY_AFTER_S;
}

/* One renewal, the lock released while the source is asked. Called with p->lock held. */
static void renew(struct aws_cred_provider *p)
{
	struct aws_credentials fresh;
	char *err = NULL;
	p->renewing = true;
	pthread_mutex_unlock(&p->lock);
	int rc = p->fetch(p->source, &fresh, &err);
	if (rc == 0 && !aws_credentials_usable(&fresh, time(NULL)))
		rc = renewed_unusable(p, &fresh, &err);
	pthread_mutex_lock(&p->lock);
	if (rc == 0) {
		install(p, &fresh);
		if (p->failing)
			log_info("AWS credentials from %s renewed again", p->cur.source);
		else
			log_debug("AWS credentials from %s renewed", p->cur.source);
		free(p->failing);
		p->failing = NULL;
		free(err);
	} else {
		renew_failed(p, rc, err);
	}
	p->renewing = false;
	pthread_cond_broadcast(&p->renewed);
}

/* Fixed credentials past use have nothing to renew them from: they are refused, as the
 * AWS SDKs fail a request with expired credentials, and said once. Called with p->lock held. */
static int refuse_expired(struct aws_cred_provider *p, time_t now)
{
	if (!p->told_expired) {
		char expiry[80];
		expiry_text(p->cur.expiration, now, expiry, sizeof(expiry));
		log_error("AWS credentials from %s %s, and nothing renews them: no request is signed "
		          "with them; have that source give credentials that are still valid, and "
		          "check this host's clock", p->cur.source ? p->cur.source : "?", expiry);
		p->told_expired = true;
	}
	return -EACCES;
}

int aws_cred_get(struct aws_cred_provider *p, struct aws_credentials *out)
{
	int rc;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		time_t now = time(NULL);
		bool valid = p->have && aws_credentials_usable(&p->cur, now);
		bool due = p->fetch && (!p->have || (p->cur.expiration && now >= p->renew_at));
		if (valid && !due) {
			rc = aws_credentials_copy(&p->cur, out);
			break;
		}
		if (!p->fetch) {        /* fixed credentials, no longer usable */
			rc = refuse_expired(p, now);
			break;
		}
		if (!p->renewing && now >= p->next_try) {
			renew(p);
			continue;
		}
		if (valid) {            /* renewal under way or failed a moment ago: still good */
			rc = aws_credentials_copy(&p->cur, out);
			break;
		}
		if (!p->renewing) {     /* expired, and the last renewal failed */
			rc = p->last_error ? p->last_error : -EACCES;
			break;
		}
		pthread_cond_wait(&p->renewed, &p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int aws_cred_provider_fixed(const struct aws_credentials *c, struct aws_cred_provider **out)
{
	struct aws_cred_provider *p = provider_alloc(NULL, NULL, NULL);
	struct aws_credentials copy;
	if (!p || aws_credentials_copy(c, &copy) < 0) {
		aws_cred_provider_free(p);
		return -ENOMEM;
	}
	install(p, &copy);
	*out = p;
	return 0;
}

int aws_cred_provider_renewing(struct cred_source *source, aws_cred_fetch_fn *fetch,
                               void (*release)(struct cred_source *source),
                               struct aws_credentials *first, struct aws_cred_provider **out)
{
	struct aws_cred_provider *p = provider_alloc(source, fetch, release);
	if (!p) {
		release(source);
		aws_credentials_free(first);
		return -ENOMEM;
	}
	p->label = strdup(first->source ? first->source : "?");
	install(p, first);
	if (!p->label) {
		aws_cred_provider_free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

void aws_cred_provider_health(struct aws_cred_provider *p, char *buf, size_t len)
{
	pthread_mutex_lock(&p->lock);
	if (p->failing)
		snprintf(buf, len, "renewal failing: %s", p->failing);
	else if (p->told_expired)
		snprintf(buf, len, "expired, nothing renews them");
	else
		snprintf(buf, len, "ok");
	pthread_mutex_unlock(&p->lock);
}

const char *aws_cred_provider_source(const struct aws_cred_provider *p)
{
	return p->label ? p->label : "fixed credentials";
}
