/* Compiled with -std=c99 -Wall -Wextra -Werror (see CMakeLists.txt): the header must be clean
 * C99 for its users, and FM_OPTS must expand without warnings. */
#include <fastmap.h>
#include <fastmap.h> /* include guard */

int main(void)
{
	FM_OPTS(fm_map_create_opts, opts, .map_flags = FM_F_NO_PREALLOC);
	FM_OPTS(fm_map_create_opts, defaults);
	int (*create)(uint32_t, const char *, uint32_t, uint32_t, uint32_t,
		      const struct fm_map_create_opts *) = fm_map_create;
	int fd = create(FM_MAP_TYPE_HASH, "c99", 4, 8, 4, &opts);

	(void)defaults;
	if (fd < 0)
		return 1;
	return fm_map_close(fd) == 0 ? 0 : 2;
}
