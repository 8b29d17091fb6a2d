// The header from C++: extern "C" linkage, no C-only constructs outside macros.
#include <fastmap.h>

#include <cerrno>
#include <cstring>

int main()
{
	fm_map_create_opts opts;
	std::memset(&opts, 0, sizeof(opts));
	opts.sz = sizeof(opts);
	opts.map_flags = FM_F_NO_PREALLOC;
	int fd = fm_map_create(FM_MAP_TYPE_HASH, "cxx", 4, 8, 4, &opts);
	if (fd < 0)
		return 1;
	fm_read_lock();
	unsigned key = 1;
	void *p = fm_map_lookup_elem_ptr(fd, &key);
	fm_read_unlock();
	if (p != nullptr)
		return 2;
	uint32_t cursor, count = 1;
	unsigned keys[1];
	unsigned char values[8];
	if (fm_map_lookup_batch(fd, nullptr, &cursor, keys, values, &count, 0) != -ENOENT || count != 0)
		return 4;
	return fm_map_close(fd) == 0 ? 0 : 3;
}
