/* What the .NET runtime inside libfastmap.so does to a C host's signals. NativeAOT installs its own
 * SIGSEGV and SIGFPE handlers (managed null checks and divisions fault on purpose and become .NET
 * exceptions), a SIGRTMIN handler (GC suspension) and sets SIGPIPE to SIG_IGN, all when the runtime
 * starts: on the process's first fm_* call (errno_guard.c puts SIGPIPE back as the host had it). Its SIGSEGV handler chains to whatever was installed
 * before it and, for a fault outside managed code with no earlier handler, restores SIG_DFL so the
 * fault kills the process as usual. These scenarios pin that down for a host:
 *
 *   signal_host default       uses FastMap, then dereferences NULL: must die of SIGSEGV
 *   signal_host thread        the same, but the fault is on a host thread FastMap never saw
 *   signal_host handler       installs its own SIGSEGV handler (sigaction, SA_SIGINFO) before its
 *                             first fm_* call, uses FastMap, faults: its handler must run; it
 *                             siglongjmps back, FastMap must still work, exit 42
 *   signal_host handler-onstack  the same with a plain sa_handler on a sigaltstack (SA_ONSTACK),
 *                             as crash reporters install it; the handler _exits with 43
 *   signal_host sigpipe       SIGPIPE: the runtime's start-up sets SIG_IGN; the library puts back
 *                             what the host had, SIG_DFL or its own handler (exit 0)
 *
 * Each scenario runs in a forked child; the parent checks how it ended, and alarm() turns a hang
 * (a handler that returns into the fault forever) into a failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fastmap.h>

#include "check.h"

/* Create, update, look up: the runtime has started and this thread is attached afterwards. */
static int use_fastmap(void)
{
	uint32_t key = 7;
	/* out is larger than the 8-byte value: fastmap.h's inline copy is written for any value size,
	 * and GCC 12's -Warray-bounds flags its 16-byte loop against an 8-byte object. */
	uint64_t val = 42, out[8] = { 0 };
	int fd = fm_map_create(FM_MAP_TYPE_HASH, "sig", sizeof(key), sizeof(val), 16, NULL);

	if (fd < 0 || fm_map_update_elem(fd, &key, &val, FM_ANY) != 0 ||
	    fm_map_lookup_elem(fd, &key, out) != 0 || out[0] != 42)
		return -1;
	return fd;
}

/* A store through NULL that the compiler must emit as written: through a volatile pointer read from a
 * volatile global (GCC drops a plain NULL store it can see, or turns it into ud2, i.e. SIGILL). */
static volatile int *volatile null_target;

static void fault(void)
{
	*null_target = 1;
}

static void *fault_thread(void *arg)
{
	(void)arg;
	fault();
	return NULL;
}

static sigjmp_buf back;
static volatile sig_atomic_t handled;

static void on_segv_info(int sig, siginfo_t *si, void *ctx)
{
	(void)ctx;
	handled = sig == SIGSEGV && si != NULL && si->si_addr == NULL ? 1 : 2;
	siglongjmp(back, 1);
}

static void on_segv_plain(int sig)
{
	/* async-signal-safe only: write and _exit */
	static const char msg[] = "signal_host: host handler ran\n";
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(sig == SIGSEGV ? 43 : 3);
}

static void on_pipe(int sig)
{
	(void)sig;
}

static int scenario(const char *mode)
{
	if (strcmp(mode, "default") == 0) {
		if (use_fastmap() < 0)
			return 10;
		fault();
		return 11; /* not reached */
	}
	if (strcmp(mode, "thread") == 0) {
		pthread_t t;

		if (use_fastmap() < 0)
			return 10;
		if (pthread_create(&t, NULL, fault_thread, NULL) != 0)
			return 12;
		pthread_join(t, NULL);
		return 11;
	}
	if (strcmp(mode, "handler") == 0) {
		struct sigaction sa;
		int fd;
		uint32_t key = 7;
		uint64_t out[8] = { 0 };

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_segv_info;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSEGV, &sa, NULL) != 0)
			return 13;
		fd = use_fastmap(); /* the runtime starts here and puts its handler in front of ours */
		if (fd < 0)
			return 10;
		if (sigaction(SIGSEGV, NULL, &sa) == 0 && sa.sa_sigaction == on_segv_info)
			fprintf(stderr, "signal_host: note: the runtime did not install a SIGSEGV handler\n");
		if (sigsetjmp(back, 1) == 0) {
			fault();
			return 11;
		}
		if (handled != 1)
			return 14;
		/* Back in the host after its handler: FastMap is still usable. */
		if (fm_map_lookup_elem(fd, &key, out) != 0 || out[0] != 42 || fm_map_close(fd) != 0)
			return 15;
		return 42;
	}
	if (strcmp(mode, "handler-onstack") == 0) {
		static char altstack[64 * 1024];
		stack_t ss;
		struct sigaction sa;

		ss.ss_sp = altstack;
		ss.ss_size = sizeof(altstack);
		ss.ss_flags = 0;
		if (sigaltstack(&ss, NULL) != 0)
			return 16;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_segv_plain;
		sa.sa_flags = SA_ONSTACK;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSEGV, &sa, NULL) != 0)
			return 13;
		if (use_fastmap() < 0)
			return 10;
		fault();
		return 11;
	}
	if (strcmp(mode, "sigpipe") == 0) {
		struct sigaction sa, now;

		/* SIG_DFL before the first call is still SIG_DFL after it... */
		if (use_fastmap() < 0)
			return 10;
		if (sigaction(SIGPIPE, NULL, &now) != 0 || now.sa_handler != SIG_DFL)
			return 17;
		/* ...and later calls do not touch it either. */
		signal(SIGPIPE, SIG_DFL);
		if (use_fastmap() < 0)
			return 10;
		if (sigaction(SIGPIPE, NULL, &now) != 0 || now.sa_handler != SIG_DFL)
			return 18;
		/* A host's own SIGPIPE handler installed after start-up stays too. */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_pipe;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGPIPE, &sa, NULL) != 0 || use_fastmap() < 0 ||
		    sigaction(SIGPIPE, NULL, &now) != 0 || now.sa_handler != on_pipe)
			return 19;
		return 0;
	}
	return 2;
}

/* A host whose SIGPIPE handler was installed before the first call keeps it (the runtime's
 * signal(SIGPIPE, SIG_IGN) is undone): a separate child, as the first call must be the process's first. */
static int sigpipe_before(void)
{
	struct sigaction sa, now;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_pipe;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) != 0 || use_fastmap() < 0 || sigaction(SIGPIPE, NULL, &now) != 0)
		return 10;
	return now.sa_handler == on_pipe ? 0 : 20;
}

/* Runs fn(mode) in a child and returns its wait status; a child still running after 20 s is
 * killed and counted as a hang. */
static int run_child(const char *mode, int pipe_before)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		alarm(20); /* SIGALRM's default action ends a hung child */
		_exit(pipe_before ? sigpipe_before() : scenario(mode));
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	return status;
}

static void describe(const char *mode, int status)
{
	if (WIFSIGNALED(status))
		fprintf(stderr, "signal_host %s: child killed by signal %d (%s)\n", mode, WTERMSIG(status),
			strsignal(WTERMSIG(status)));
	else
		fprintf(stderr, "signal_host %s: child exited with %d\n", mode, WEXITSTATUS(status));
}

int main(int argc, char **argv)
{
	const char *mode;
	int status;

	CHECK(argc == 2);
	mode = argv[1];
	status = run_child(mode, 0);
	describe(mode, status);
	if (strcmp(mode, "default") == 0 || strcmp(mode, "thread") == 0) {
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	} else if (strcmp(mode, "handler") == 0) {
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 42);
	} else if (strcmp(mode, "handler-onstack") == 0) {
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 43);
	} else if (strcmp(mode, "sigpipe") == 0) {
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		status = run_child("sigpipe-before", 1);
		describe("sigpipe-before", status);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	} else {
		CHECK(!"unknown mode");
	}
	printf("signal_host %s: ok\n", mode);
	return 0;
}

CHECK_SITES_FIT();
