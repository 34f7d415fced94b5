/* check.h: the in-house assertion header of the unit tests.
 *
 * CHECK(cond) records a failure and goes on, so one run shows every broken
 * case; check_done() prints "N passed, N failed" and returns the exit code.
 * Header-only: each test executable is one translation unit plus libwattstream.
 */
#ifndef WS_TESTS_CHECK_H
#define WS_TESTS_CHECK_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static unsigned check_passed, check_failed;

#define CHECK(cond) check_report(!!(cond), __FILE__, __LINE__, #cond, "")

#define CHECK_INT(a, b) do { \
	long long check_a_ = (long long)(a), check_b_ = (long long)(b); \
	char check_m_[96]; \
	snprintf(check_m_, sizeof(check_m_), " (%lld != %lld)", check_a_, check_b_); \
	check_report(check_a_ == check_b_, __FILE__, __LINE__, #a " == " #b, check_m_); \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *check_a_ = (a), *check_b_ = (b); \
	int check_ok_ = check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0; \
	char check_m_[256]; \
	snprintf(check_m_, sizeof(check_m_), " (\"%.100s\" != \"%.100s\")", \
		 check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)"); \
	check_report(check_ok_, __FILE__, __LINE__, #a " == " #b, check_m_); \
} while (0)

#define CHECK_NEAR(a, b, eps) do { \
	double check_a_ = (a), check_b_ = (b); \
	char check_m_[96]; \
	snprintf(check_m_, sizeof(check_m_), " (%.9g vs %.9g)", check_a_, check_b_); \
	check_report(fabs(check_a_ - check_b_) <= (eps), __FILE__, __LINE__, \
		     #a " ~ " #b, check_m_); \
} while (0)

#define CHECK_MEM(a, b, n) \
	check_report(memcmp((a), (b), (n)) == 0, __FILE__, __LINE__, \
		     "memcmp(" #a ", " #b ")", "")

static inline void check_report(int ok, const char *file, int line,
				const char *what, const char *detail)
{
	if (ok) {
		check_passed++;
		return;
	}
	check_failed++;
	fprintf(stderr, "FAIL %s:%d: %s%s\n", file, line, what, detail);
}

static inline int check_done(void)
{
	printf("%u passed, %u failed\n", check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
