#include "core/heartbeat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void heartbeat_touch(const char *path)
{
    static time_t last;
    time_t now = time(NULL);
    if (!path || !path[0] || now == last)
        return;
    last = now;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    futimens(fd, NULL);
    close(fd);
}

int heartbeat_check(const char *path, int max_age_s, time_t now, char *why, size_t n)
{
    struct stat st;
    if (!path || !path[0]) {
        snprintf(why, n, "no heartbeat file configured (worker_heartbeat_file)");
        return -1;
    }
    if (stat(path, &st) < 0) {
        snprintf(why, n, "%s: %s", path, strerror(errno));
        return -1;
    }
    long age = (long)(now - st.st_mtime);
    if (age > max_age_s) {
        snprintf(why, n, "%s: last heartbeat %ld s ago (limit %d s)", path, age, max_age_s);
        return -1;
    }
    return 0;
}
