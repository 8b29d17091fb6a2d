/* Tiny check harness shared by the C tests: each CHECK gets the next ordinal, and the first
 * failing one ends the test with that ordinal as its exit code (so "exit 37" names one check),
 * after printing the file, line and the values it saw. Keep each test file under 255 checks. */
#ifndef FM_TEST_CHECK_H
#define FM_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int fm_check_no;

#define CHECK(cond)                                                                   \
	do {                                                                          \
		++fm_check_no;                                                        \
		if (!(cond)) {                                                        \
			fprintf(stderr, "%s:%d: check %d failed: %s\n", __FILE__,     \
				__LINE__, fm_check_no, #cond);                        \
			exit(fm_check_no < 255 ? fm_check_no : 255);                  \
		}                                                                     \
	} while (0)

/* CHECK that an int call returns EXPECT, printing what it returned otherwise. */
#define CHECK_RET(call, expect)                                                       \
	do {                                                                          \
		long long fm_got_ = (long long)(call);                                \
		++fm_check_no;                                                        \
		if (fm_got_ != (long long)(expect)) {                                 \
			fprintf(stderr, "%s:%d: check %d failed: %s returned %lld, "  \
				"expected %s (%lld)\n", __FILE__, __LINE__,           \
				fm_check_no, #call, fm_got_, #expect,                 \
				(long long)(expect));                                 \
			exit(fm_check_no < 255 ? fm_check_no : 255);                  \
		}                                                                     \
	} while (0)

#endif
