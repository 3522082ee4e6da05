/* S3's and STS's XML read with libxml2's SAX2 parser, hardened, for every document, and the
 * field setters they share (both declared in s3/xml_int.h). */
#include "s3/xml_int.h"
#include "util/buf.h"
#include "util/memdup.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>

/* The largest body we parse. A 1000-key page of 1024-byte keys, each byte percent-encoded,
 * is about 3.5 MiB; past 16 MiB the server is broken or hostile. */
#define XML_MAX_BODY (16u << 20)

/* Parser options for bodies from a server we do not trust: no entity substitution
 * (XML_PARSE_NOENT off), no DTD loading or default attributes (DTDLOAD, DTDATTR off), no
 * network, and libxml2's own size and depth limits kept (XML_PARSE_HUGE off). On top of this
 * the SAX handler below refuses any DOCTYPE, so no entity can even be declared. */
#define XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

/* The document is read as SAX events rather than a DOM tree: a DOM costs some 30 times the
 * body (a 16 MiB body of "<a/>" is 550 MiB of nodes), while these events only feed the result,
 * a small multiple of the body at worst. No handler builds a document either (there is no
 * startDocument). Only four levels matter: the root, its children (Contents, IsTruncated...)
 * and their children (Key, Size...), and for STS the fields of <Credentials> below those. */
#define XML_DEPTHS 4

/* State of one parse; it lives on the caller's stack, so parses never share anything. */
struct xml_reader {
	xmlParserCtxtPtr ctxt;
	const struct xml_ops *ops;
	void *doc;
	int rc;                            /* first failure; once set, the parse is stopped */
	int depth;                         /* of the innermost open element; the root is 1 */
	unsigned char kind[XML_DEPTHS + 1]; /* xml_kind of the open element at each depth */
	struct buf text;                   /* text of the open XML_TEXT element */
};

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init_once(void)
{
	xmlInitParser();
}

/* libxml2 wants xmlInitParser() once before threads parse concurrently; pthread_once makes
 * this safe to call from every parse on any thread. */
static void xml_init(void)
{
	pthread_once(&xml_once, xml_init_once);
}

static void reader_fail(struct xml_reader *r, int rc)
{
	if (!r->rc)
		r->rc = rc;
	xmlStopParser(r->ctxt);
}

/* The element's parent is a container of ours, so the document should see it. */
static bool parent_is_container(const struct xml_reader *r, int depth)
{
	return depth >= 2 && depth <= XML_DEPTHS && r->kind[depth - 1] == XML_CONTAINER;
}

static void open_root(struct xml_reader *r, const char *name)
{
	if (r->ops->root && strcmp(name, r->ops->root) != 0)
		reader_fail(r, -EBADMSG);
	r->kind[1] = XML_CONTAINER;
}

static void open_child(struct xml_reader *r, const char *name)
{
	int kind = r->ops->open(r->doc, r->depth, name);
	if (kind < 0) {
		reader_fail(r, kind);
		return;
	}
	r->kind[r->depth] = (unsigned char)kind;
	/* Emptied with its NUL: an empty field's text is "", not the last field's. */
	r->text.len = 0;
	if (r->text.data)
		r->text.data[0] = '\0';
}

/* Matches on the local name alone: AWS and radosgw put their elements in the S3 namespace,
 * other servers in none, and a prefix (s3:Key) is as valid as a default namespace. */
static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                     const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
                     int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
	(void)prefix, (void)uri, (void)nb_namespaces, (void)namespaces;
	(void)nb_attributes, (void)nb_defaulted, (void)attributes;
	struct xml_reader *r = ctx;
	if (r->rc)
		return;
	/* A field such as <Key> holds text only; markup inside one is a malformed body. */
	if (r->depth >= 1 && r->depth <= XML_DEPTHS && r->kind[r->depth] == XML_TEXT) {
		reader_fail(r, -EBADMSG);
		return;
	}
	r->depth++;
	if (r->depth == 1)
		open_root(r, (const char *)localname);
	else if (parent_is_container(r, r->depth))
		open_child(r, (const char *)localname);
	else if (r->depth <= XML_DEPTHS)
		r->kind[r->depth] = XML_SKIP;
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
	(void)localname, (void)prefix, (void)uri;
	struct xml_reader *r = ctx;
	if (r->rc)
		return;
	int depth = r->depth--;
	if (depth < 2 || depth > XML_DEPTHS || r->kind[depth] == XML_SKIP)
		return;
	bool text = r->kind[depth] == XML_TEXT;
	int rc = r->ops->close(r->doc, depth, text ? (r->text.data ? r->text.data : "") : NULL,
	                       text ? r->text.len : 0);
	if (rc < 0)
		reader_fail(r, rc);
}

/* Character data and CDATA sections alike; libxml2 has already turned &amp; and &#65;
 * into characters, so only text of a field is kept, the rest (indentation) dropped. */
static void on_text(void *ctx, const xmlChar *s, int len)
{
	struct xml_reader *r = ctx;
	if (r->rc || r->depth < 1 || r->depth > XML_DEPTHS || r->kind[r->depth] != XML_TEXT)
		return;
	int rc = buf_append(&r->text, s, (size_t)len);
	if (rc < 0)
		reader_fail(r, rc);
}

/* S3 never sends a DOCTYPE. Stopping at one, before its internal subset is read, means no
 * entity is ever declared: no billion laughs, no external entity (file:///etc/passwd). */
static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                       const xmlChar *system_id)
{
	(void)name, (void)external_id, (void)system_id;
	reader_fail(ctx, -EBADMSG);
}

/* A reference to a declared entity. on_doctype makes this unreachable; kept as a backstop. */
static void on_entity_ref(void *ctx, const xmlChar *name)
{
	(void)name;
	reader_fail(ctx, -EBADMSG);
}

/* Parse errors end up in ctxt->wellFormed; nothing is printed for a server's bad body. */
static void on_error(void *ctx, xmlErrorPtr error)
{
	(void)ctx, (void)error;
}

static void install_handler(xmlParserCtxtPtr ctxt, struct xml_reader *r)
{
	xmlSAXHandler *sax = ctxt->sax;
	memset(sax, 0, sizeof(*sax));
	sax->initialized = XML_SAX2_MAGIC;
	sax->startElementNs = on_start;
	sax->endElementNs = on_end;
	/* Whitespace too, should libxml2 ever call it ignorable: a key may be " ". */
	sax->characters = on_text;
	sax->ignorableWhitespace = on_text;
	sax->cdataBlock = on_text;
	sax->internalSubset = on_doctype;
	sax->reference = on_entity_ref;
	sax->serror = on_error;
	ctxt->userData = r;
}

int xml_read(const char *body, size_t len, const struct xml_ops *ops, void *doc)
{
	if (!body || len == 0 || len > XML_MAX_BODY)
		return -EBADMSG;
	xml_init();
	struct xml_reader r = { .ops = ops, .doc = doc };
	r.ctxt = xmlCreateMemoryParserCtxt(body, (int)len);
	if (!r.ctxt)
		return -ENOMEM;
	/* Options first: xmlCtxtUseOptions edits the SAX handler that install_handler replaces. */
	xmlCtxtUseOptions(r.ctxt, XML_OPTIONS);
	install_handler(r.ctxt, &r);
	xmlParseDocument(r.ctxt);
	int rc = r.rc;
	if (!rc && !r.ctxt->wellFormed)
		rc = r.ctxt->errNo == XML_ERR_NO_MEMORY ? -ENOMEM : -EBADMSG;
	xmlFreeParserCtxt(r.ctxt);
	buf_free(&r.text);
	return rc;
}

/* ---- field values ---- */

/* Decimal digits only: no sign, no blanks, no overflow past UINT64_MAX. */
static int parse_u64(const char *s, size_t len, uint64_t *out)
{
	if (len == 0)
		return -EBADMSG;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EBADMSG;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int xml_set_once(char **field, const char *text, size_t len)
{
	if (*field)
		return -EBADMSG;
	return (*field = memdup_nul(text, len)) ? 0 : -ENOMEM;
}

int xml_set_u64_once(bool *have, uint64_t *out, const char *text, size_t len)
{
	if (*have)
		return -EBADMSG;
	*have = true;
	return parse_u64(text, len, out);
}

int xml_set_bool_once(bool *have, bool *out, const char *text)
{
	if (*have)
		return -EBADMSG;
	*have = true;
	if (strcmp(text, "true") == 0)
		*out = true;
	else if (strcmp(text, "false") == 0)
		*out = false;
	else
		return -EBADMSG;
	return 0;
}
