/* iocheck DEV BLOCKS STOPFILE: direct-I/O write/verify loop on DEV until
 * STOPFILE exists. Each round writes a 64 KiB pattern naming the round at
 * a rotating 64 KiB block, reads it back and compares. Prints on exit:
 * "rounds N errors E mismatches M max_stall_ms S", where S is the longest
 * single write or read, i.e. how long I/O was held up. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BS 65536

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	long long rounds = 0, errors = 0, mismatches = 0, max_stall = 0, t;
	unsigned char *w, *r;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: iocheck DEV BLOCKS STOPFILE\n");
		return 2;
	}
	long blocks = atol(argv[2]);
	fd = open(argv[1], O_RDWR | O_DIRECT);
	if (fd < 0 || blocks < 1 || posix_memalign((void **)&w, 4096, BS) ||
	    posix_memalign((void **)&r, 4096, BS)) {
		perror("iocheck");
		return 1;
	}
	while (access(argv[3], F_OK) != 0) {
		off_t off = (off_t)(rounds % blocks) * BS;
		for (int i = 0; i < BS; i += 8)
			memcpy(w + i, &rounds, 8);
		t = now_ms();
		if (pwrite(fd, w, BS, off) != BS)
			errors++;
		if (now_ms() - t > max_stall)
			max_stall = now_ms() - t;
		t = now_ms();
		if (pread(fd, r, BS, off) != BS)
			errors++;
		else if (memcmp(w, r, BS) != 0)
			mismatches++;
		if (now_ms() - t > max_stall)
			max_stall = now_ms() - t;
		rounds++;
	}
	printf("rounds %lld errors %lld mismatches %lld max_stall_ms %lld\n", rounds, errors,
	       mismatches, max_stall);
	return 0;
}
