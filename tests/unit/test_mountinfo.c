/* Unit tests for util/mountinfo.c: finding a mount by its path in /proc/self/mountinfo, the
 * topmost one, paths with escaped characters, and lines that are not mounts. */
#include "util/mountinfo.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char table[] =
	"22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n"
	"25 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
	"40 22 0:35 / /mnt/tf rw,nosuid,nodev,relatime shared:20 - fuse.tfstatefs demo rw,user_id=0\n"
	"41 22 0:36 / /mnt/tf rw,nosuid,nodev,relatime shared:21 - fuse.tfstatefs demo rw,user_id=0\n"
	"42 22 0:37 / /mnt/my\\040states rw,relatime - fuse.tfstatefs b rw\n"
	"43 22 0:38 / /mnt/back\\134slash\\011tab rw,relatime master:3 shared:4 - fuse b rw\n"
	"44 22 0:39 / /tmp rw,relatime - tmpfs tmpfs rw";    /* no newline at the end */

static long find(const char *path, const char *type)
{
	return mountinfo_find(table, strlen(table), path, type);
}

static void test_find(void)
{
	CHECK_INT(find("/mnt/tf", "fuse"), 41);          /* the topmost of two */
	CHECK_INT(find("/mnt/tf", "fuse.tfstatefs"), 41);
	CHECK_INT(find("/mnt/my states", "fuse"), 42);
	CHECK_INT(find("/mnt/back\\slash\ttab", "fuse"), 43);
	CHECK_INT(find("/tmp", "tmpfs"), 44);
	CHECK_INT(find("/mnt/tf", "ext4"), -1);          /* the path, but not the type */
	CHECK_INT(find("/mnt", "fuse"), -1);
	CHECK_INT(find("/mnt/t", "fuse"), -1);
	CHECK_INT(find("/mnt/tf/", "fuse"), -1);
	CHECK_INT(find("/mnt/my\\040states", "fuse"), -1);   /* the escape, not the name */
	CHECK_INT(find("/", "ext4"), 22);
	CHECK_INT(mountinfo_find("", 0, "/", ""), -1);
}

static void test_has(void)
{
	CHECK(mountinfo_has(table, strlen(table), 22));
	CHECK(mountinfo_has(table, strlen(table), 44));
	CHECK(!mountinfo_has(table, strlen(table), 4));
	CHECK(!mountinfo_has(table, strlen(table), 2));
	CHECK(!mountinfo_has(table, strlen(table), 440));
	CHECK(!mountinfo_has("", 0, 22));
}

/* Not lines of the table: too few fields, no "-", a non-numeric ID, an escape at the end
 * of the field or one that is a NUL; none is taken for a mount. */
static void test_not_mounts(void)
{
	static const char *const bad[] = {
		"40 22 0:35 / /mnt/tf rw shared:20 fuse.tfstatefs demo rw\n",
		"40 22 0:35 / /mnt/tf\n",
		"x40 22 0:35 / /mnt/tf rw - fuse demo rw\n",
		"40 22 0:35 / /mnt/tf rw -\n",
		"\n\n   \n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(mountinfo_find(bad[i], strlen(bad[i]), "/mnt/tf", "fuse"), -1);
		CHECK(!mountinfo_has(bad[i], strlen(bad[i]), 40));
	}
	const char *cut = "40 22 0:35 / /mnt/tf\\04 rw - fuse demo rw\n";
	CHECK_INT(mountinfo_find(cut, strlen(cut), "/mnt/tf\\04", "fuse"), 40);
	const char *nul = "40 22 0:35 / /mnt/tf\\000 rw - fuse demo rw\n";
	CHECK_INT(mountinfo_find(nul, strlen(nul), "/mnt/tf", "fuse"), -1);
	/* The length is the end: a line cut short is not read past. */
	CHECK_INT(mountinfo_find(table, 100, "/mnt/tf", "fuse"), -1);
}

/* This process's own table: "/" is always there. */
static void test_own_table(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f) {
		printf("mountinfo: no /proc, own-table test skipped\n");
		return;
	}
	char *text = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	CHECK(n > 0);
	long id = n > 0 ? mountinfo_find(text, (size_t)n, "/", "") : -1;
	CHECK(id >= 0);
	CHECK(id < 0 || mountinfo_has(text, (size_t)n, id));
	free(text);
}

int main(void)
{
	test_find();
	test_has();
	test_not_mounts();
	test_own_table();
	return check_report("mountinfo");
}
