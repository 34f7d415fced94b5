/* vectors.h: loading the shared test vectors of tests/vectors/ (JSON files
 * that the C tests and the contract tests both run on).  Header-only, for
 * unit tests that link jansson through libwattstream. */
#ifndef WS_TESTS_VECTORS_H
#define WS_TESTS_VECTORS_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

/* Loads tests/vectors/<name> below $WS_SOURCE_ROOT (or ".." when run from
 * tests/).  Returns NULL, after saying why on stderr, if it cannot. */
static inline json_t *vectors_load(const char *name)
{
	const char *root = getenv("WS_SOURCE_ROOT");
	char path[4096];
	json_error_t err;

	snprintf(path, sizeof(path), "%s/tests/vectors/%s", root ? root : "..", name);
	json_t *j = json_load_file(path, 0, &err);
	if (!j)
		fprintf(stderr, "cannot load %s: %s\n", path, err.text);
	return j;
}

/* The string member key of o, or "" (never NULL). */
static inline const char *vectors_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

#endif
