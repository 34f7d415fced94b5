/* test-parse.c: strict value parsing, including every malformed shape. */
#include <errno.h>

#include "check.h"
#include "wattstream/parse.h"

int main(void)
{
	uint64_t u;
	uint32_t u32;
	int64_t i;
	double d;
	bool b;
	char buf[4];

	CHECK_INT(ws_parse_u64("0", 0, 10, &u), 0);
	CHECK_INT(u, 0);
	CHECK_INT(ws_parse_u64("0x1A", 0, 100, &u), 0);
	CHECK_INT(u, 26);
	CHECK_INT(ws_parse_u64("11", 0, 10, &u), -ERANGE);
	CHECK_INT(ws_parse_u64("18446744073709551616", 0, UINT64_MAX, &u), -ERANGE);
	CHECK_INT(ws_parse_u64("", 0, 10, &u), -EINVAL);
	CHECK_INT(ws_parse_u64(" 1", 0, 10, &u), -EINVAL);
	CHECK_INT(ws_parse_u64("1 ", 0, 10, &u), -EINVAL);
	CHECK_INT(ws_parse_u64("-1", 0, 10, &u), -EINVAL);
	CHECK_INT(ws_parse_u64("+1", 0, 10, &u), -EINVAL);
	CHECK_INT(ws_parse_u64("0x", 0, 10, &u), -EINVAL);
	CHECK_INT(ws_parse_u64("1e3", 0, 10000, &u), -EINVAL);
	CHECK_INT(ws_parse_u64(NULL, 0, 10, &u), -EINVAL);
	CHECK_INT(ws_parse_u32("4294967296", 0, UINT32_MAX, &u32), -ERANGE);
	CHECK_INT(ws_parse_u32("5", 6, 7, &u32), -ERANGE);

	CHECK_INT(ws_parse_i64("-5", -10, 10, &i), 0);
	CHECK_INT(i, -5);
	CHECK_INT(ws_parse_i64("-11", -10, 10, &i), -ERANGE);
	CHECK_INT(ws_parse_i64("--1", -10, 10, &i), -EINVAL);
	CHECK_INT(ws_parse_i64("-", -10, 10, &i), -EINVAL);

	CHECK_INT(ws_parse_double("1.5", 0, 2, &d), 0);
	CHECK_NEAR(d, 1.5, 0);
	CHECK_INT(ws_parse_double("-2e-3", -1, 1, &d), 0);
	CHECK_NEAR(d, -0.002, 1e-15);
	CHECK_INT(ws_parse_double("nan", -1e9, 1e9, &d), -EINVAL);
	CHECK_INT(ws_parse_double("inf", -1e9, 1e9, &d), -EINVAL);
	CHECK_INT(ws_parse_double("0x10", 0, 100, &d), -EINVAL);
	CHECK_INT(ws_parse_double("1e400", 0, 1e300, &d), -ERANGE);
	CHECK_INT(ws_parse_double("3", 0, 2, &d), -ERANGE);
	CHECK_INT(ws_parse_double("1.5kW", 0, 2, &d), -EINVAL);
	CHECK_INT(ws_parse_double("", 0, 2, &d), -EINVAL);
	CHECK_INT(ws_parse_double(".", 0, 2, &d), -EINVAL);

	CHECK_INT(ws_parse_bool("Yes", &b), 0);
	CHECK(b);
	CHECK_INT(ws_parse_bool("off", &b), 0);
	CHECK(!b);
	CHECK_INT(ws_parse_bool("2", &b), -EINVAL);
	CHECK_INT(ws_parse_bool("", &b), -EINVAL);

	CHECK_INT(ws_strcpy(buf, sizeof(buf), "abc"), 0);
	CHECK_STR(buf, "abc");
	CHECK_INT(ws_strcpy(buf, sizeof(buf), "abcd"), -ENAMETOOLONG);
	CHECK_STR(buf, "abc");
	return check_done();
}
