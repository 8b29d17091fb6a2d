/* A user's first C program against an unpacked FastMap dist tarball, built two ways by
 * scripts/test-packages.sh: `cc consumer.c $(pkg-config --cflags --libs fastmap)` and CMake's
 * find_package(FastMap CONFIG REQUIRED) + FastMap::fastmap (CMakeLists.txt here). The script copies these
 * files to a temporary directory first, so nothing resolves into the source tree. Prints
 * "fastmap-c-package: ok" last. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <fastmap.h>

struct flow {
	uint64_t revision; /* what a collector compares */
	uint64_t packets;
};

static void expect(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fastmap-c-package: FAILED: %s\n", what);
		exit(1);
	}
}

int main(void)
{
	uint64_t key = 7, stale = 1, current = 2;
	struct flow v = { 1, 100 }, out = { 0, 0 };
	int fd = fm_map_create(FM_MAP_TYPE_HASH, "pkg", sizeof(key), sizeof(struct flow), 64, NULL);

	expect(fd >= 0, "fm_map_create");
	expect(fm_map_update_elem(fd, &key, &v, FM_ANY) == 0, "update");
	expect(fm_map_lookup_elem(fd, &key, &out) == 0 && out.packets == 100, "lookup");
	v.revision = 2; /* a refresh between the collector's snapshot and its delete */
	expect(fm_map_update_elem(fd, &key, &v, FM_EXIST) == 0, "refresh");
	expect(fm_map_delete_elem_cmp(fd, &key, &stale, 0, sizeof(stale)) == -EBUSY, "stale compare-and-delete is -EBUSY");
	expect(fm_map_delete_elem_cmp(fd, &key, &current, 0, sizeof(current)) == 0, "current compare-and-delete");
	expect(fm_map_lookup_elem(fd, &key, &out) == -ENOENT, "deleted");
	expect(fm_map_close(fd) == 0, "close");
	puts("fastmap-c-package: ok");
	return 0;
}
