/* fuzz-config.c: the INI parser on arbitrary text.  It must never crash,
 * and a configuration it accepts must print and load back to itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wattstream/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ws_config cfg, again;
	static struct ws_config_errors errs;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (ws_config_load_string(&cfg, text, "fuzz", &errs) == 0) {
		char *out = NULL, *out2 = NULL;
		size_t len = 0, len2 = 0;
		FILE *f = open_memstream(&out, &len);
		ws_config_print(&cfg, f);
		fclose(f);
		if (ws_config_load_string(&again, out, "fuzz", &errs) != 0)
			__builtin_trap();
		f = open_memstream(&out2, &len2);
		ws_config_print(&again, f);
		fclose(f);
		/* secrets print as a comment that does not load back */
		char *sec;
		while ((sec = strstr(out, " is set (not shown)\n"))) {
			char *start = sec;
			while (start > out && start[-1] != '\n')
				start--;
			char *end = sec + strlen(" is set (not shown)\n");
			memmove(start, end, strlen(end) + 1);
		}
		if (strcmp(out, out2) != 0)
			__builtin_trap();
		free(out);
		free(out2);
	}
	free(text);
	return 0;
}
