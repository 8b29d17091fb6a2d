/* Three processes, C and .NET, on one shared map (FM_F_SHARED): this C process creates and pins it,
 * the .NET peer of the managed tests (tests/FastMap.SharedPeer, driven one command a line over pipes)
 * and a second C process (this program again, exec'd) open it by path, and each sees what the others
 * wrote, deletes with compare-and-delete and swaps with compare-and-swap.
 *   mixed <FastMap.SharedPeer.dll>        (CTest passes the path; ./test.sh builds the peer first)
 * Keys and values are the peer's: key i = {i, ~i, 0, 0} (int32 LE), value = {revision u64 LE, then
 * byte b = i * 31 + b for b in 8..31}. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fastmap.h>
#include "check.h"

extern char **environ;

static void key_of(int i, uint8_t k[16])
{
	int32_t a = i, b = ~i;
	memset(k, 0, 16);
	memcpy(k, &a, 4);
	memcpy(k + 4, &b, 4);
}

static void value_of(int i, uint64_t rev, uint8_t v[32])
{
	memcpy(v, &rev, 8);
	for (int b = 8; b < 32; b++)
		v[b] = (uint8_t)(i * 31 + b);
}

static uint64_t rev_of(int fd, int i, int *status)
{
	uint8_t k[16], v[32];
	uint64_t rev = 0;
	key_of(i, k);
	*status = fm_map_lookup_elem(fd, k, v);
	if (*status == 0)
		memcpy(&rev, v, 8);
	return rev;
}

/* The second C process: opens the map, checks key 20 (the peer's), compare-deletes it, writes key 21. */
static int child(const char *path)
{
	int fd = fm_obj_get(path, 0);
	CHECK(fd >= 0);
	int st;
	CHECK(rev_of(fd, 20, &st) == 7 && st == 0);
	uint8_t k[16], v[32], rev[8];
	key_of(20, k);
	uint64_t r = 6;
	memcpy(rev, &r, 8);
	CHECK_RET(fm_map_delete_elem_cmp(fd, k, rev, 0, 8), -EBUSY);
	r = 7;
	memcpy(rev, &r, 8);
	CHECK_RET(fm_map_delete_elem_cmp(fd, k, rev, 0, 8), 0);
	key_of(21, k);
	value_of(21, 3, v);
	CHECK_RET(fm_map_update_elem(fd, k, v, FM_NOEXIST), 0);
	CHECK_RET(fm_map_close(fd), 0);
	return 0;
}

static FILE *peer_in, *peer_out;

/* One command to the .NET peer, its answer line (without the newline) in a static buffer. */
static const char *peer(const char *fmt, ...)
{
	static char line[256];
	va_list ap;
	va_start(ap, fmt);
	vfprintf(peer_in, fmt, ap);
	va_end(ap);
	fputc('\n', peer_in);
	fflush(peer_in);
	if (!fgets(line, sizeof line, peer_out)) {
		fprintf(stderr, "mixed: the .NET peer exited\n");
		exit(200);
	}
	line[strcspn(line, "\n")] = 0;
	return line;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "child") == 0)
		return child(argv[2]);
	if (argc != 2) {
		fprintf(stderr, "usage: mixed <FastMap.SharedPeer.dll>\n");
		return 2;
	}
	if (access(argv[1], R_OK) != 0) {
		fprintf(stderr, "mixed: %s missing: build it with dotnet build tests/FastMap.SharedPeer -c Release\n", argv[1]);
		return 3;
	}
	char dir[128], path[160];
	const char *shm = getenv("FASTMAP_SHM_DIR") ? getenv("FASTMAP_SHM_DIR") : "/dev/shm";
	snprintf(dir, sizeof dir, "%s/fm-mixed-%d", shm, (int)getpid());
	snprintf(path, sizeof path, "%s/map", dir);
	CHECK(mkdir(dir, 0700) == 0);

	FM_OPTS(fm_map_create_opts, opts, .map_flags = FM_F_SHARED);
	int fd = fm_map_create(FM_MAP_TYPE_HASH, "mixed", 16, 32, 64, &opts);
	CHECK(fd >= 0);
	CHECK_RET(fm_obj_pin(fd, path), 0);
	uint8_t k[16], v[32];
	for (int i = 0; i < 10; i++) {
		key_of(i, k);
		value_of(i, 1, v);
		CHECK_RET(fm_map_update_elem(fd, k, v, FM_ANY), 0);
	}

	/* The .NET peer, on pipes. */
	int to_peer[2], from_peer[2];
	CHECK(pipe(to_peer) == 0 && pipe(from_peer) == 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, to_peer[0], 0);
	posix_spawn_file_actions_adddup2(&fa, from_peer[1], 1);
	posix_spawn_file_actions_addclose(&fa, to_peer[1]);
	posix_spawn_file_actions_addclose(&fa, from_peer[0]);
	char *peer_argv[] = {"dotnet", argv[1], NULL};
	pid_t peer_pid;
	CHECK(posix_spawnp(&peer_pid, "dotnet", &fa, NULL, peer_argv, environ) == 0);
	close(to_peer[0]);
	close(from_peer[1]);
	peer_in = fdopen(to_peer[1], "w");
	peer_out = fdopen(from_peer[0], "r");
	CHECK(peer_in && peer_out);

	CHECK(strcmp(peer("open %s", path), "0") == 0);
	CHECK(strcmp(peer("get 5"), "0 1") == 0);
	CHECK(strcmp(peer("upd 20 7"), "0") == 0);
	int st;
	CHECK(rev_of(fd, 20, &st) == 7 && st == 0);

	/* The third process: C again, exec'd (the library's runtime does not survive a bare fork). */
	char *child_argv[] = {argv[0], "child", path, NULL};
	pid_t child_pid;
	CHECK(posix_spawn(&child_pid, argv[0], NULL, NULL, child_argv, environ) == 0);
	int ws;
	CHECK(waitpid(child_pid, &ws, 0) == child_pid);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);

	CHECK(strncmp(peer("get 20"), "-2", 2) == 0);     /* the C child's compare-and-delete */
	CHECK(strcmp(peer("get 21"), "0 3") == 0);        /* and its insert */
	uint8_t rev[8];
	uint64_t r = 3;
	memcpy(rev, &r, 8);
	key_of(21, k);
	value_of(21, 4, v);
	CHECK_RET(fm_map_update_elem_cmp(fd, k, v, rev, 0, 8, 0), 0);
	CHECK(strcmp(peer("get 21"), "0 4") == 0);
	CHECK(strcmp(peer("cmpdel 21 3"), "-16") == 0);   /* EBUSY: the swap above moved it */
	CHECK(strcmp(peer("cmpdel 21 4"), "0") == 0);
	CHECK(rev_of(fd, 21, &st) == 0 && st == -ENOENT);
	CHECK(strcmp(peer("count"), "10") == 0);

	fputs("quit\n", peer_in);
	fflush(peer_in);
	CHECK(waitpid(peer_pid, &ws, 0) == peer_pid);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	CHECK_RET(fm_map_close(fd), 0);
	CHECK(unlink(path) == 0 && rmdir(dir) == 0);
	printf("mixed: 3 processes (C creator, .NET peer, C child) on one map: %d checks passed\n", fm_checks_run);
	return 0;
}

CHECK_SITES_FIT();
