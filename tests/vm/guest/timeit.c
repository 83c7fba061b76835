/* timeit CMD ARGS...: run CMD, print "elapsed_ms <ms>" on stderr, exit with
 * CMD's status. Busybox's date has no sub-second clock; this is the guest's
 * stopwatch for benchmarks. */
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec a, b;
	int status = 0;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: timeit CMD [ARGS...]\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	pid = fork();
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		perror(argv[1]);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		perror("timeit");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	fprintf(stderr, "elapsed_ms %.1f\n",
		(b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
