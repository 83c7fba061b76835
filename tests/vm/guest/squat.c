/* squat UID NAME: as user UID, listen on the abstract Unix socket NAME
 * (what multipathd binds) until killed: abstract names have no
 * permissions, so any user can answer a connect there. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n;
	int fd;

	if (argc != 3 || (n = strlen(argv[2])) >= sizeof(a.sun_path) - 1) {
		fprintf(stderr, "usage: squat UID NAME\n");
		return 2;
	}
	if (setgid(atoi(argv[1])) || setuid(atoi(argv[1]))) {
		perror("setuid");
		return 1;
	}
	memcpy(a.sun_path + 1, argv[2], n);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + 1 + n) ||
	    listen(fd, 64)) {
		perror("squat");
		return 1;
	}
	printf("squatting as uid %d\n", (int)getuid());
	fflush(stdout);
	for (;;)
		pause();
}
