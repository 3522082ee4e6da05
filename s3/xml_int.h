/* The XML reader's insides, shared by the s3/xml*.c files; nothing else includes it.
 *
 * xml.c runs libxml2's parser with the hardening every body from a server needs (no DTD, no
 * entities, no network, a size and a depth limit) and offers a document the elements it asks
 * for; the files that hold the documents only say which elements they keep and what their
 * text becomes, so none of them can parse a body any other way. */
#ifndef TFS_S3_XML_INT_H
#define TFS_S3_XML_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum xml_kind {
	XML_SKIP,       /* not ours: it and everything under it is ignored */
	XML_CONTAINER,  /* ours; its child elements are offered to the document */
	XML_TEXT,       /* ours; its text is collected and handed over when it closes */
};

/* What one document type (a listing, an error) does with the elements it is offered. */
struct xml_ops {
	const char *root;       /* the root element's name; NULL: any (the document decides) */
	/* An element at depth 2 to 4 whose parent is a container opens: returns its xml_kind,
	 * or a negative errno that ends the parse. */
	int (*open)(void *doc, int depth, const char *name);
	/* That element closes; text (NUL-terminated, len bytes) is its text for XML_TEXT,
	 * NULL for a container. Returns 0 or a negative errno. */
	int (*close)(void *doc, int depth, const char *text, size_t len);
};

/* Runs the parser over body, feeding ops. Returns 0, -EBADMSG or -ENOMEM. */
int xml_read(const char *body, size_t len, const struct xml_ops *ops, void *doc);

/* ---- field values, for a document's close ---- */

/* A string field that must appear at most once: a second copy makes the body ambiguous. */
int xml_set_once(char **field, const char *text, size_t len);

/* A number, at most once (*have says whether it came already). */
int xml_set_u64_once(bool *have, uint64_t *out, const char *text, size_t len);

/* "true" or "false" exactly, at most once (*have says whether it came already). */
int xml_set_bool_once(bool *have, bool *out, const char *text);
#endif
