/* A state's top-level fields (serial, lineage, versions, resources count) from its bytes. */
#include "fs/stateinfo.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

/* Resource attributes nest (objects of lists of objects...), but not hundreds deep. */
#define DEPTH_MAX 256

/* json-c spends about 800 bytes on an object (its hash table), 150 on an array and 64 on
 * any other value, however short its text: 16 MiB of "[{},{},..." would take 4 GiB, where
 * a real state takes 6 to 7 times its size. So the tree's cost is bounded from one pass
 * over the bytes before it is built: a cost over TREE_MAX is refused like a large state. */
#define COST_OBJECT 800
#define COST_ARRAY  160
#define COST_VALUE  64
#define TREE_MAX    (256u << 20)

/* An upper estimate of the bytes json-c takes for body: every string, every value after
 * a comma, every container, and the text itself. */
static size_t tree_cost(const char *s, size_t len)
{
	size_t cost = len;
	bool in_string = false;
	for (size_t i = 0; i < len; i++) {
		if (in_string) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_string = false;
			continue;
		}
		if (s[i] == '"') {
			in_string = true;
			cost += COST_VALUE;
		} else if (s[i] == ',') {
			cost += COST_VALUE;
		} else if (s[i] == '{') {
			cost += COST_OBJECT;
		} else if (s[i] == '[') {
			cost += COST_ARRAY;
		}
	}
	return cost;
}

static struct json_object *member(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;
	return json_object_object_get_ex(obj, key, &v) ? v : NULL;
}

/* Copies string member key of obj into out (STATEINFO_TEXT_MAX + 1 bytes) when it is one
 * short line of printable ASCII: the names these values are shown under say what they
 * hold, and anything else there is not what they say. */
static void take_text(struct json_object *obj, const char *key, char *out)
{
	struct json_object *v = member(obj, key);
	if (!json_object_is_type(v, json_type_string))
		return;
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);
	if (n == 0 || n > STATEINFO_TEXT_MAX)
		return;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* Terraform's serial is a uint64. json-c gives UINT64_MAX for any larger integer too, so
 * that one value is not taken: it cannot be told from a number Terraform would refuse. */
static void take_serial(struct json_object *obj, struct stateinfo *out)
{
	struct json_object *v = member(obj, "serial");
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return;
	uint64_t serial = json_object_get_uint64(v);
	if (serial == UINT64_MAX)
		return;
	out->serial = serial;
	out->has_serial = true;
}

/* OpenTofu's encrypted state: "encrypted_data" and "encryption_version", with "serial"
 * and "lineage" in clear when it writes them. Whatever else is at its top level is not
 * the state's, so nothing else is taken. */
static void take_encrypted(struct json_object *obj, struct stateinfo *out)
{
	out->encrypted = true;
	take_text(obj, "encryption_version", out->encryption_version);
	take_text(obj, "lineage", out->lineage);
	take_serial(obj, out);
}

static int take_state(struct json_object *obj, struct stateinfo *out, char *why, size_t whylen)
{
	if (!json_object_is_type(member(obj, "version"), json_type_int) ||
	    (!member(obj, "serial") && !member(obj, "lineage"))) {
		snprintf(why, whylen, "not a Terraform state (no version with a serial or lineage)");
		return -EINVAL;
	}
	take_serial(obj, out);
	take_text(obj, "lineage", out->lineage);
	take_text(obj, "terraform_version", out->terraform_version);
	struct json_object *res = member(obj, "resources");
	if (json_object_is_type(res, json_type_array)) {
		out->resources = json_object_array_length(res);
		out->has_resources = true;
	}
	return 0;
}

/* Parses the whole body as one JSON value into *obj (NULL for a JSON null). Strict and
 * UTF-8 checked, trailing bytes refused: Terraform writes nothing else. Returns 0,
 * -EINVAL (why says what is wrong) or -ENOMEM. */
static int parse_json(const char *body, size_t len, struct json_object **obj, char *why,
                      size_t whylen)
{
	struct json_tokener *tok = json_tokener_new_ex(DEPTH_MAX);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	*obj = json_tokener_parse_ex(tok, body, (int)len);
	enum json_tokener_error err = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	int rc = 0;
	/* Still expecting more is a document cut short; json-c stops at a NUL, so what it
	 * did not reach is trailing data. */
	if (err != json_tokener_success || end < len) {
		snprintf(why, whylen, "not JSON: %s at byte %zu",
		         err == json_tokener_continue ? "unexpected end of data"
		         : err == json_tokener_success ? "trailing data"
		                                       : json_tokener_error_desc(err), end);
		json_object_put(*obj);
		*obj = NULL;
		rc = -EINVAL;
	}
	json_tokener_free(tok);
	return rc;
}

int stateinfo_parse(const char *body, size_t len, struct stateinfo *out, char *why,
                    size_t whylen)
{
	memset(out, 0, sizeof(*out));
	if (len > STATEINFO_MAX_BYTES) {
		snprintf(why, whylen, "larger than %u MiB", STATEINFO_MAX_BYTES >> 20);
		return -EFBIG;
	}
	if (tree_cost(body, len) > TREE_MAX) {
		snprintf(why, whylen, "too many values to parse within %u MiB", TREE_MAX >> 20);
		return -EFBIG;
	}
	struct json_object *obj;
	int rc = parse_json(body ? body : "", len, &obj, why, whylen);
	if (rc < 0)
		return rc;
	if (!json_object_is_type(obj, json_type_object)) {
		snprintf(why, whylen, "not a JSON object");
		rc = -EINVAL;
	} else if (member(obj, "encrypted_data")) {
		take_encrypted(obj, out);
	} else {
		rc = take_state(obj, out, why, whylen);
	}
	json_object_put(obj);
	return rc;
}
