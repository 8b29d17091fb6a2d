/* Shared maps (FM_F_SHARED): fm_obj_pin() and fm_obj_get(), directly and through fm_bpf().
 *
 *  1. Two processes. The process forks before its first fm_* call (the library's runtime must not be
 *     running across a fork). The child creates a shared map, pins it in a fresh directory and says so
 *     through a pipe; the parent opens the pin, and the two take turns on the same entries: the child
 *     writes, the parent reads and compare-and-deletes, the child sees what the parent left, and so on.
 *  2. Handles from fm_obj_get(FM_F_RDONLY) answer -EPERM to updates and deletes; FM_F_WRONLY to lookups.
 *  3. The errnos of fm_obj_pin(), fm_obj_get() and of FM_BPF_OBJ_PIN / FM_BPF_OBJ_GET, in the kernel's
 *     order (docs/obj-pin-kernel.md), and errno kept on success.
 *
 * The pins live in a directory made with mkdtemp() in $FASTMAP_SHM_DIR (the file system of the maps'
 * files), else /dev/shm; everything is unlinked at the end. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fastmap.h>

#include "check.h"

#define SENTINEL 4242
#define NKEYS 64

struct val {
	uint64_t data; /* key * 10 */
	uint64_t rev;  /* the compare window: [8, 16) */
};

/* The kernel's BPF_OBJ_* member of union bpf_attr, and room after it for the CHECK_ATTR cases. */
struct obj_attr {
	uint64_t pathname;
	uint32_t bpf_fd;
	uint32_t file_flags;
	int32_t path_fd;
	uint32_t tail[3];
};

static char dir[256];
static char pin[300];
static pid_t main_pid;

/* A failed check exits early: leave no pins or directory behind (the main process only; a failing
 * child leaves them to it). */
static void cleanup(void)
{
	static const char *const names[] = { "map", "ro", "file", "plain", "link", "sub/p" };
	char path[400];
	size_t i;

	if (getpid() != main_pid || dir[0] == '\0')
		return;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	rmdir(dir);
}

/* ---- the pipe protocol ----------------------------------------------------------------------- */

static void say(int fd, char c) { CHECK(write(fd, &c, 1) == 1); }

static void expect(int fd, char c)
{
	char got = 0;
	ssize_t n;

	do
		n = read(fd, &got, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1 || got != c)
		fprintf(stderr, "pipe: expected '%c', got %zd bytes ('%c')\n", c, n, n == 1 ? got : '?');
	CHECK(n == 1 && got == c);
}

/* ---- 1. two processes ------------------------------------------------------------------------ */

/* The child: the map's creator. Runs its first fm_* call after the fork. */
static int creator(int to_parent, int from_parent)
{
	FM_OPTS(fm_map_create_opts, opts, .map_flags = FM_F_SHARED);
	int fd = fm_map_create(FM_MAP_TYPE_HASH, "shared_xchg", 8, sizeof(struct val), 1024, &opts);
	struct val v, got;
	uint64_t k, next;

	CHECK(fd >= 0);
	CHECK_RET(fm_obj_pin(fd, pin), 0);
	say(to_parent, 'P');

	for (k = 1; k <= NKEYS; k++) {
		v.data = k * 10;
		v.rev = 1;
		CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_NOEXIST), 0);
	}
	say(to_parent, 'W');

	/* The parent deleted the even keys (their revision matched) and not the odd ones. */
	expect(from_parent, 'D');
	for (k = 1; k <= NKEYS; k++) {
		if (k % 2 == 0) {
			CHECK_ERR(fm_map_lookup_elem(fd, &k, &got), ENOENT);
		} else {
			CHECK_RET(fm_map_lookup_elem(fd, &k, &got), 0);
			CHECK(got.data == k * 10 && got.rev == 1);
			/* A refresh: the parent's compare with revision 1 must now fail. */
			v.data = k * 10 + 1;
			v.rev = 2;
			CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_EXIST), 0);
		}
	}
	say(to_parent, 'U');

	/* The parent deleted the refreshed keys with revision 2 and wrote one key of its own. */
	expect(from_parent, 'E');
	k = 1000;
	CHECK_RET(fm_map_lookup_elem(fd, &k, &got), 0);
	CHECK(got.data == 7 && got.rev == 9);
	CHECK_RET(fm_map_delete_elem(fd, &k), 0);
	CHECK_ERR(fm_map_get_next_key(fd, NULL, &next), ENOENT);
	CHECK_RET(fm_map_close(fd), 0);
	say(to_parent, 'C');
	return 0;
}

/* The parent: opens the pin and takes its turns. */
static void opener(pid_t child, int from_child, int to_child)
{
	struct val got, cmp = { 0, 0 }, v;
	uint64_t k;
	int fd, status = 0;

	expect(from_child, 'P');
	errno = SENTINEL;
	fd = fm_obj_get(pin, 0);
	CHECK(fd >= 0);
	CHECK(errno == SENTINEL); /* the first call of this process started the runtime; errno kept */

	expect(from_child, 'W');
	for (k = 1; k <= NKEYS; k++) {
		CHECK_RET(fm_map_lookup_elem(fd, &k, &got), 0);
		CHECK(got.data == k * 10 && got.rev == 1);
	}
	for (k = 1; k <= NKEYS; k++) {
		cmp.rev = k % 2 == 0 ? 1 : 7; /* odd keys: a revision that is not theirs */
		if (k % 2 == 0)
			CHECK_RET(fm_map_delete_elem_cmp(fd, &k, &cmp.rev, 8, 8), 0);
		else
			CHECK_ERR(fm_map_delete_elem_cmp(fd, &k, &cmp.rev, 8, 8), EBUSY);
	}
	say(to_child, 'D');

	expect(from_child, 'U');
	for (k = 1; k <= NKEYS; k += 2) {
		cmp.rev = 1; /* the child refreshed every odd key to revision 2 */
		CHECK_ERR(fm_map_delete_elem_cmp(fd, &k, &cmp.rev, 8, 8), EBUSY);
		CHECK_RET(fm_map_lookup_elem(fd, &k, &got), 0);
		CHECK(got.data == k * 10 + 1 && got.rev == 2);
		cmp.rev = 2;
		CHECK_RET(fm_map_delete_elem_cmp(fd, &k, &cmp.rev, 8, 8), 0);
		CHECK_ERR(fm_map_lookup_elem(fd, &k, &got), ENOENT);
	}
	k = 1000;
	v.data = 7;
	v.rev = 9;
	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_NOEXIST), 0);
	say(to_child, 'E');

	expect(from_child, 'C');
	CHECK(waitpid(child, &status, 0) == child);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "creator: status %#x\n", status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* The creator has closed and exited; the pin keeps the map. Unlinking removes the name, and the
	 * open handle keeps the map until it is closed. */
	CHECK_ERR(fm_map_get_next_key(fd, NULL, &k), ENOENT);
	CHECK(unlink(pin) == 0);
	CHECK_ERR(fm_obj_get(pin, 0), ENOENT);
	k = 5;
	v.data = 50;
	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_ANY), 0);
	CHECK_RET(fm_map_lookup_elem(fd, &k, &got), 0);
	CHECK(got.data == 50);
	CHECK_RET(fm_map_close(fd), 0);
}

/* ---- 2. access modes ------------------------------------------------------------------------- */

static void access_modes(void)
{
	FM_OPTS(fm_map_create_opts, opts, .map_flags = FM_F_SHARED);
	int fd = fm_map_create(FM_MAP_TYPE_HASH, NULL, 8, sizeof(struct val), 64, &opts);
	struct val v = { 11, 1 }, got;
	uint64_t k = 1, missing = 2, next;
	int ro, wo, rw;
	uint32_t count;

	CHECK(fd >= 0);
	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_ANY), 0);
	CHECK_RET(fm_obj_pin(fd, pin), 0);

	ro = fm_obj_get(pin, FM_F_RDONLY);
	CHECK(ro >= 0);
	CHECK_RET(fm_map_lookup_elem(ro, &k, &got), 0);
	CHECK(got.data == 11);
	CHECK_RET(fm_map_get_next_key(ro, NULL, &next), 0);
	CHECK_ERR(fm_map_update_elem(ro, &k, &v, FM_ANY), EPERM);
	CHECK_ERR(fm_map_update_elem(ro, &missing, &v, FM_NOEXIST), EPERM);
	CHECK_ERR(fm_map_delete_elem(ro, &k), EPERM);
	CHECK_ERR(fm_map_delete_elem(ro, &missing), EPERM); /* the mode before the key, as the kernel */
	CHECK_ERR(fm_map_delete_elem_cmp(ro, &k, &v.rev, 8, 8), EPERM);
	CHECK_ERR(fm_map_lookup_and_delete_elem(ro, &k, &got), EPERM);
	count = 1;
	CHECK_ERR(fm_map_update_batch(ro, &k, &v, &count, 0), EPERM);
	CHECK_RET(fm_map_lookup_elem(fd, &k, &got), 0); /* still there */
	CHECK(got.data == 11);

	wo = fm_obj_get(pin, FM_F_WRONLY);
	CHECK(wo >= 0);
	CHECK_ERR(fm_map_lookup_elem(wo, &k, &got), EPERM);
	CHECK_ERR(fm_map_lookup_elem(wo, &missing, &got), EPERM);
	CHECK_ERR(fm_map_get_next_key(wo, NULL, &next), EPERM);
	v.data = 12;
	CHECK_RET(fm_map_update_elem(wo, &k, &v, FM_ANY), 0);
	CHECK_RET(fm_map_lookup_elem(ro, &k, &got), 0); /* the read-only handle sees the write */
	CHECK(got.data == 12);

	/* FM_F_RDONLY at create binds only the creator's handle, as the kernel's: a GET with 0 can write. */
	FM_OPTS(fm_map_create_opts, ro_opts, .map_flags = FM_F_SHARED | FM_F_RDONLY);
	int cro = fm_map_create(FM_MAP_TYPE_HASH, NULL, 8, sizeof(struct val), 64, &ro_opts);
	char pin2[320];
	CHECK(cro >= 0);
	CHECK_ERR(fm_map_update_elem(cro, &k, &v, FM_ANY), EPERM);
	snprintf(pin2, sizeof(pin2), "%s/ro", dir);
	CHECK_RET(fm_obj_pin(cro, pin2), 0);
	rw = fm_obj_get(pin2, 0);
	CHECK(rw >= 0);
	CHECK_RET(fm_map_update_elem(rw, &k, &v, FM_ANY), 0);
	CHECK_RET(fm_map_lookup_elem(cro, &k, &got), 0);
	CHECK(got.data == 12);
	CHECK(unlink(pin2) == 0);

	CHECK_RET(fm_map_close(rw), 0);
	CHECK_RET(fm_map_close(cro), 0);
	CHECK_RET(fm_map_close(wo), 0);
	CHECK_RET(fm_map_close(ro), 0);
	CHECK_RET(fm_map_close(fd), 0);
	CHECK(unlink(pin) == 0);
}

/* ---- 3. errnos ------------------------------------------------------------------------------- */

static void write_file(const char *path, const void *bytes, size_t n)
{
	int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(f >= 0);
	CHECK(write(f, bytes, n) == (ssize_t)n);
	CHECK(close(f) == 0);
}

static void pin_errnos(int shared, int private_fd)
{
	char path[400], sub[400], file[400];
	struct stat a, b;
	int fd2;

	/* The handle first: -EINVAL, as the kernel answers for an fd that is no BPF object, before the path. */
	CHECK_ERR(fm_obj_pin(9999, pin), EINVAL);
	CHECK_ERR(fm_obj_pin(-1, pin), EINVAL);
	CHECK_ERR(fm_obj_pin(9999, NULL), EINVAL);
	/* Then the path. */
	CHECK_ERR(fm_obj_pin(shared, NULL), EFAULT);
	CHECK_ERR(fm_obj_pin(shared, ""), ENOENT);
	snprintf(path, sizeof(path), "%s/missing/p", dir);
	CHECK_ERR(fm_obj_pin(shared, path), ENOENT);
	snprintf(path, sizeof(path), "%s/trailing/", dir);
	CHECK_ERR(fm_obj_pin(shared, path), ENOENT);
	snprintf(file, sizeof(file), "%s/file", dir);
	write_file(file, "x", 1);
	snprintf(path, sizeof(path), "%s/file/p", dir);
	CHECK_ERR(fm_obj_pin(shared, path), ENOTDIR);
	CHECK_ERR(fm_obj_pin(shared, file), EEXIST); /* whatever the existing name is */
	CHECK_ERR(fm_obj_pin(shared, dir), EEXIST);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	CHECK(mkdir(sub, 0700) == 0);
	snprintf(path, sizeof(path), "%s/sub/p", dir);
	CHECK_RET(fm_obj_pin(shared, path), 0);
	CHECK_ERR(fm_obj_pin(shared, path), EEXIST);
	CHECK_ERR(fm_obj_pin(private_fd, path), EEXIST); /* the path before the map's kind */
	/* A second name for the same map: both open it. */
	errno = SENTINEL;
	CHECK_RET(fm_obj_pin(shared, pin), 0);
	CHECK(errno == SENTINEL);
	fd2 = fm_obj_get(path, 0);
	CHECK(fd2 >= 0);
	CHECK_RET(fm_map_close(fd2), 0);
	CHECK(unlink(pin) == 0);
	CHECK(unlink(path) == 0);
	/* A map that is not shared: -EOPNOTSUPP, after the path's lookup. */
	snprintf(path, sizeof(path), "%s/missing/p", dir);
	CHECK_ERR(fm_obj_pin(private_fd, path), ENOENT);
	CHECK_ERR(fm_obj_pin(private_fd, NULL), EFAULT);
	CHECK_ERR(fm_obj_pin(private_fd, pin), EOPNOTSUPP);
	CHECK(access(pin, F_OK) != 0);
	/* Another file system than the maps' files: -EXDEV (the kernel's -EPERM outside bpffs). */
	if (stat("/tmp", &a) == 0 && stat(dir, &b) == 0 && a.st_dev != b.st_dev) {
		snprintf(path, sizeof(path), "/tmp/fm_shared_xdev_%d", (int)getpid());
		CHECK_ERR(fm_obj_pin(shared, path), EXDEV);
		CHECK(access(path, F_OK) != 0);
	} else {
		printf("shared: /tmp is on the maps' file system; -EXDEV not checked\n");
	}
	/* A directory without write permission: -EACCES (root passes, so only when not root). */
	if (geteuid() != 0) {
		CHECK(chmod(sub, 0500) == 0);
		snprintf(path, sizeof(path), "%s/sub/p", dir);
		CHECK_ERR(fm_obj_pin(shared, path), EACCES);
		CHECK(chmod(sub, 0700) == 0);
	}
	/* A closed handle answers as a bad one. */
	FM_OPTS(fm_map_create_opts, opts, .map_flags = FM_F_SHARED);
	int closed = fm_map_create(FM_MAP_TYPE_LRU_HASH, NULL, 4, 4, 16, &opts);
	CHECK(closed >= 0);
	CHECK_RET(fm_map_close(closed), 0);
	CHECK_ERR(fm_obj_pin(closed, pin), EINVAL);
	CHECK(rmdir(sub) == 0);
	CHECK(unlink(file) == 0);
}

static void get_errnos(int shared)
{
	char path[400], file[400];
	unsigned char header[4096];
	int f, fd;

	CHECK_RET(fm_obj_pin(shared, pin), 0);
	/* Flags first, before the path. */
	CHECK_ERR(fm_obj_get(pin, FM_F_RDONLY | FM_F_WRONLY), EINVAL);
	CHECK_ERR(fm_obj_get(NULL, FM_F_RDONLY | FM_F_WRONLY), EINVAL);
	CHECK_ERR(fm_obj_get(pin, 1), EINVAL);
	CHECK_ERR(fm_obj_get(pin, 1u << 2), EINVAL);
	CHECK_ERR(fm_obj_get(pin, 1u << 5), EINVAL);
	CHECK_ERR(fm_obj_get(pin, 1u << 14), EINVAL); /* BPF_F_PATH_FD: not supported */
	CHECK_ERR(fm_obj_get(pin, 1u << 31), EINVAL);
	CHECK_ERR(fm_obj_get(pin, FM_F_SHARED), EINVAL);
	CHECK_ERR(fm_obj_get(NULL, 0), EFAULT);
	CHECK_ERR(fm_obj_get(NULL, FM_F_RDONLY), EFAULT);
	CHECK_ERR(fm_obj_get("", 0), ENOENT);
	snprintf(path, sizeof(path), "%s/nothing", dir);
	CHECK_ERR(fm_obj_get(path, 0), ENOENT);
	snprintf(path, sizeof(path), "%s/missing/p", dir);
	CHECK_ERR(fm_obj_get(path, 0), ENOENT);
	snprintf(path, sizeof(path), "%s/p", pin); /* a component is the pin */
	CHECK_ERR(fm_obj_get(path, 0), ENOTDIR);
	/* Not a map: a directory, a file that is not FastMap's. */
	CHECK_ERR(fm_obj_get(dir, 0), EACCES);
	CHECK_ERR(fm_obj_get(dir, FM_F_RDONLY), EACCES);
	snprintf(file, sizeof(file), "%s/plain", dir);
	write_file(file, "not a map, just text\n", 21);
	CHECK_ERR(fm_obj_get(file, 0), EACCES);
	write_file(file, "abc", 3);
	CHECK_ERR(fm_obj_get(file, 0), EACCES);
	/* FastMap's own: a map's file cut short, damaged, or of another layout version. */
	f = open(pin, O_RDONLY);
	CHECK(f >= 0);
	CHECK(read(f, header, sizeof(header)) == (ssize_t)sizeof(header));
	CHECK(close(f) == 0);
	write_file(file, header, sizeof(header)); /* the header alone: truncated */
	CHECK_ERR(fm_obj_get(file, 0), EINVAL);
	header[40] ^= 1; /* a field the header's check covers */
	write_file(file, header, sizeof(header));
	CHECK_ERR(fm_obj_get(file, 0), EINVAL);
	header[40] ^= 1;
	header[8] = 2; /* the layout version (after the 8-byte magic) */
	write_file(file, header, sizeof(header));
	CHECK_ERR(fm_obj_get(file, 0), EPROTO);
	CHECK_ERR(fm_obj_get(file, FM_F_RDONLY | FM_F_WRONLY), EINVAL);
	CHECK(unlink(file) == 0);
	/* A symlink to the pin is followed. */
	snprintf(path, sizeof(path), "%s/link", dir);
	CHECK(symlink(pin, path) == 0);
	errno = SENTINEL;
	fd = fm_obj_get(path, FM_F_RDONLY);
	CHECK(fd >= 0);
	CHECK(errno == SENTINEL);
	CHECK_RET(fm_map_close(fd), 0);
	CHECK_ERR(fm_obj_pin(shared, path), EEXIST); /* a symlink is not followed by a pin */
	CHECK(unlink(path) == 0);
	/* The file's mode refuses this process (root bypasses it). */
	if (geteuid() != 0) {
		CHECK(chmod(pin, 0400) == 0);
		CHECK_ERR(fm_obj_get(pin, FM_F_RDONLY), EACCES);
		CHECK(chmod(pin, 0600) == 0);
	}
	CHECK(unlink(pin) == 0);
}

static int bpf_obj(int cmd, const char *path, uint32_t bpf_fd, uint32_t file_flags, int32_t path_fd,
		   uint32_t tail0, unsigned int size)
{
	struct obj_attr a;

	memset(&a, 0, sizeof(a));
	a.pathname = (uintptr_t)path;
	a.bpf_fd = bpf_fd;
	a.file_flags = file_flags;
	a.path_fd = path_fd;
	a.tail[0] = tail0;
	return fm_bpf(cmd, &a, size);
}

static void bpf_errnos(int shared, int private_fd)
{
	const unsigned int full = sizeof(struct obj_attr);
	char path[400];
	struct val v = { 1, 1 };
	uint64_t k = 77;
	int fd;

	/* OBJ_PIN: CHECK_ATTR and the flags, then the handle, then the path. */
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, pin, (uint32_t)shared, 0, 0, 1, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, pin, (uint32_t)shared, 0, 0, 1u << 24, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, pin, (uint32_t)shared, 1, 0, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, pin, (uint32_t)shared, FM_F_RDONLY, 0, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, pin, (uint32_t)shared, FM_F_WRONLY, 0, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, pin, (uint32_t)shared, 1u << 14, 0, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, pin, (uint32_t)shared, 1u << 31, 0, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, pin, (uint32_t)shared, 0, 3, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, NULL, 9999, 1, 0, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, pin, 9999, 0, 0, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, pin, (uint32_t)-1, 0, 0, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, NULL, 9999, 0, 0, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, NULL, (uint32_t)shared, 0, 0, 0, full), EFAULT);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, "", (uint32_t)shared, 0, 0, 0, full), ENOENT);
	snprintf(path, sizeof(path), "%s/missing/p", dir);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, path, (uint32_t)shared, 0, 0, 0, full), ENOENT);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, dir, (uint32_t)shared, 0, 0, 0, full), EEXIST);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, pin, (uint32_t)private_fd, 0, 0, 0, full), EOPNOTSUPP);
	/* A short attr: the fields it does not reach read as 0 (12 bytes: pathname and bpf_fd). */
	CHECK_RET(bpf_obj(FM_BPF_OBJ_PIN, pin, (uint32_t)shared, 0x55, 0x55, 0x55, 12), 0);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_PIN, pin, (uint32_t)shared, 0, 0, 0, 20), EEXIST);

	/* OBJ_GET: CHECK_ATTR, bpf_fd and path_fd, then the flags, then the path. */
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_GET, pin, 0, 0, 0, 1, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_GET, pin, (uint32_t)shared, 0, 0, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_GET, pin, 0, 0, 3, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_GET, pin, 0, 1u << 14, 3, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_GET, pin, 0, 1u << 14, 0, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_GET, pin, 0, 1, 0, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_GET, pin, 0, 1u << 31, 0, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_GET, pin, 0, FM_F_RDONLY | FM_F_WRONLY, 0, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_GET, NULL, 0, FM_F_RDONLY | FM_F_WRONLY, 0, 0, full), EINVAL);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_GET, NULL, 0, 0, 0, 0, full), EFAULT);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_GET, "", 0, 0, 0, 0, full), ENOENT);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_GET, path, 0, 0, 0, 0, full), ENOENT);
	CHECK_ERR(bpf_obj(FM_BPF_OBJ_GET, dir, 0, 0, 0, 0, full), EACCES);
	/* Nonzero bytes past the library's union bpf_attr: -E2BIG, as for every command. */
	{
		unsigned char big[256];
		memset(big, 0, sizeof(big));
		uint64_t p = (uintptr_t)pin;
		memcpy(big, &p, sizeof(p));
		big[200] = 1;
		CHECK_ERR(fm_bpf(FM_BPF_OBJ_GET, big, sizeof(big)), E2BIG);
		big[200] = 0;
		fd = fm_bpf(FM_BPF_OBJ_GET, big, sizeof(big));
		CHECK(fd >= 0);
		CHECK_RET(fm_map_close(fd), 0);
	}
	/* Read-only through the attr: updates and deletes -EPERM. */
	errno = SENTINEL;
	fd = bpf_obj(FM_BPF_OBJ_GET, pin, 0, FM_F_RDONLY, 0, 0, full);
	CHECK(fd >= 0);
	CHECK(errno == SENTINEL);
	CHECK_ERR(fm_map_update_elem(fd, &k, &v, FM_ANY), EPERM);
	CHECK_ERR(fm_map_delete_elem(fd, &k), EPERM);
	CHECK_RET(fm_map_close(fd), 0);
	/* A short attr (8 bytes: the pathname alone) is a GET with everything else 0. */
	fd = bpf_obj(FM_BPF_OBJ_GET, pin, 0x55, 0x55, 0x55, 0x55, 8);
	CHECK(fd >= 0);
	CHECK_RET(fm_map_update_elem(fd, &k, &v, FM_ANY), 0);
	CHECK_RET(fm_map_delete_elem(shared, &k), 0);
	CHECK_RET(fm_map_close(fd), 0);
	CHECK(unlink(pin) == 0);
}

static void errnos(void)
{
	FM_OPTS(fm_map_create_opts, shared_opts, .map_flags = FM_F_SHARED);
	int shared = fm_map_create(FM_MAP_TYPE_HASH, NULL, 8, sizeof(struct val), 32, &shared_opts);
	int private_fd = fm_map_create(FM_MAP_TYPE_HASH, NULL, 8, 8, 32, NULL);
	int percpu = fm_map_create(FM_MAP_TYPE_PERCPU_HASH, NULL, 8, 8, 32, &shared_opts);
	int fd;

	CHECK(shared >= 0);
	CHECK(private_fd >= 0);
	CHECK(percpu >= 0);
	/* A per-CPU hash map is pinned and opened as a hash map is. */
	CHECK_RET(fm_obj_pin(percpu, pin), 0);
	fd = fm_obj_get(pin, 0);
	CHECK(fd >= 0);
	CHECK_RET(fm_map_close(fd), 0);
	CHECK(unlink(pin) == 0);
	CHECK_RET(fm_map_close(percpu), 0);
	/* FM_F_SHARED at create: hash, per-CPU hash and LRU hash only; no spin-lock values. */
	CHECK_ERR(fm_map_create(FM_MAP_TYPE_ARRAY, NULL, 4, 8, 32, &shared_opts), EINVAL);
	FM_OPTS(fm_map_create_opts, lock_opts, .map_flags = FM_F_SHARED, .has_spin_lock = 1, .spin_lock_off = 0);
	CHECK_ERR(fm_map_create(FM_MAP_TYPE_HASH, NULL, 8, 16, 32, &lock_opts), EOPNOTSUPP);

	/* A fresh shared map for each part: each unlinks every pin of its map at the end, and a map whose
	 * last pin is gone cannot be pinned again (its file is then an unlinked file, which link(2) refuses
	 * with ENOENT; the kernel would pin it again). */
	pin_errnos(shared, private_fd);
	CHECK_RET(fm_map_close(shared), 0);
	shared = fm_map_create(FM_MAP_TYPE_HASH, NULL, 8, sizeof(struct val), 32, &shared_opts);
	CHECK(shared >= 0);
	get_errnos(shared);
	CHECK_RET(fm_map_close(shared), 0);
	shared = fm_map_create(FM_MAP_TYPE_HASH, NULL, 8, sizeof(struct val), 32, &shared_opts);
	CHECK(shared >= 0);
	bpf_errnos(shared, private_fd);
	CHECK_RET(fm_map_close(private_fd), 0);
	CHECK_RET(fm_map_close(shared), 0);
}

int main(void)
{
	const char *base = getenv("FASTMAP_SHM_DIR");
	int c2p[2], p2c[2];
	pid_t child;

	if (base == NULL || *base == '\0')
		base = "/dev/shm";
	snprintf(dir, sizeof(dir), "%s/fm_shared_test_XXXXXX", base);
	CHECK(mkdtemp(dir) != NULL);
	main_pid = getpid();
	atexit(cleanup);
	snprintf(pin, sizeof(pin), "%s/map", dir);

	/* Fork before this process's first fm_* call: the runtime must not be running across a fork. */
	CHECK(pipe(c2p) == 0 && pipe(p2c) == 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		close(c2p[0]);
		close(p2c[1]);
		alarm(60);
		_exit(creator(c2p[1], p2c[0]));
	}
	close(c2p[1]);
	close(p2c[0]);
	alarm(120);
	opener(child, c2p[0], p2c[1]);
	printf("shared: two processes exchanged %d keys\n", NKEYS);

	access_modes();
	errnos();

	CHECK(rmdir(dir) == 0);
	printf("shared: %d checks passed\n", fm_checks_run);
	return 0;
}

CHECK_SITES_FIT();
