/* Tiny check harness shared by the C tests. Every CHECK site gets its own number (GCC/Clang's
 * __COUNTER__, counted per source file), and the first failing check ends the test with that
 * number as its exit status, so "exit 37" names one line, even inside a loop. It prints the
 * file, line and the value it saw. Keep each test file under 255 check sites (asserted at
 * the end of the file by CHECK_SITES_FIT). */
#ifndef FM_TEST_CHECK_H
#define FM_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int fm_checks_run; /* executions, for the summary line */

static void fm_check_failed(int id, const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: check %d failed: %s\n", file, line, id, what);
	exit(id);
}

#define FM_CHECK_AT(id, cond, what)                                           \
	do {                                                                  \
		++fm_checks_run;                                              \
		if (!(cond))                                                  \
			fm_check_failed((id), __FILE__, __LINE__, (what));    \
	} while (0)

#define CHECK(cond) FM_CHECK_AT(__COUNTER__ + 1, cond, #cond)

#define FM_CHECK_RET_AT(id, call, expect)                                             \
	do {                                                                          \
		long long fm_got_ = (long long)(call);                                \
		++fm_checks_run;                                                      \
		if (fm_got_ != (long long)(expect)) {                                 \
			fprintf(stderr, "%s:%d: check %d: %s returned %lld, expected " \
				"%s (%lld)\n", __FILE__, __LINE__, (id), #call,       \
				fm_got_, #expect, (long long)(expect));               \
			exit(id);                                                     \
		}                                                                     \
	} while (0)

/* CHECK that a call returns EXPECT, printing what it returned otherwise. */
#define CHECK_RET(call, expect) FM_CHECK_RET_AT(__COUNTER__ + 1, call, expect)

/* CHECK that an int call fails with -E and leaves errno == E (one check site). */
#define FM_CHECK_ERR_AT(id, call, e)                  \
	do {                                          \
		errno = 0;                            \
		FM_CHECK_RET_AT(id, call, -(e));      \
		FM_CHECK_RET_AT(id, errno, (e));      \
	} while (0)
#define CHECK_ERR(call, e) FM_CHECK_ERR_AT(__COUNTER__ + 1, call, e)

/* Place once at the end of a test file: fails the build past 254 check sites. */
#define CHECK_SITES_FIT() _Static_assert(__COUNTER__ < 255, "too many CHECK sites for exit codes")

#endif
