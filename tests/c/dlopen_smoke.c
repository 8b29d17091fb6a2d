/* Loads libfastmap.so at run time, as a plugin host would, resolves every function the header
 * declares, and makes one round trip. Usage: dlopen_smoke /path/to/libfastmap.so */
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

#include <fastmap.h>

#include "check.h"

static const char *const names[] = {
	"fm_map_create", "fm_map_close", "fm_map_lookup_elem", "fm_map_lookup_elem_flags",
	"fm_map_update_elem", "fm_map_delete_elem", "fm_map_delete_elem_flags",
	"fm_map_delete_elem_cmp", "fm_map_lookup_and_delete_elem", "fm_map_get_next_key",
	"fm_bpf", "fm_read_lock", "fm_read_unlock", "fm_map_lookup_elem_ptr",
	"fm_map_lookup_batch", "fm_map_lookup_and_delete_batch", "fm_map_update_batch",
	"fm_map_delete_batch", "fm_map_delete_batch_cmp", "fm_map_update_elem_cmp",
	"fm_map_update_batch_cmp", "fm_map_lookup_bulk", "fm_version", "fm_obj_pin", "fm_obj_get",
};

int main(int argc, char **argv)
{
	typedef int (*create_fn)(uint32_t, const char *, uint32_t, uint32_t, uint32_t,
				 const struct fm_map_create_opts *);
	typedef int (*close_fn)(int);
	void *h;
	size_t i;
	create_fn create;
	close_fn close_map;
	int fd;

	CHECK(argc == 2);
	h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		fprintf(stderr, "dlopen: %s\n", dlerror());
	CHECK(h != NULL);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (dlsym(h, names[i]) == NULL)
			fprintf(stderr, "missing %s\n", names[i]);
		CHECK(dlsym(h, names[i]) != NULL);
	}
	*(void **)&create = dlsym(h, "fm_map_create");
	*(void **)&close_map = dlsym(h, "fm_map_close");
	fd = create(FM_MAP_TYPE_HASH, "dl", 4, 8, 4, NULL);
	CHECK(fd >= 0);
	CHECK_RET(close_map(fd), 0);
	/* No dlclose: a NativeAOT library cannot be unloaded, like any library that starts a runtime. */
	return 0;
}

CHECK_SITES_FIT();
