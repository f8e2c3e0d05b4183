#define _GNU_SOURCE
#include "CProcess.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

struct spawn_failure {
    int stage;
    int error;
};

// Only async-signal-safe calls from here to execve: the parent has many threads.
static void spawn_fail(int report, int stage) {
    struct spawn_failure failure = { stage, errno };
    ssize_t written;
    do { written = write(report, &failure, sizeof failure); } while (written < 0 && errno == EINTR);
    _exit(127);
}

static void spawn_child(const struct mailstack_spawn_request *r, int report) {
    if (setpgid(0, 0) != 0) spawn_fail(report, MAILSTACK_SPAWN_SETUP);
    // The daemon's threads block signals and it ignores SIGPIPE; a program starts with neither.
    struct sigaction defaults = { 0 };
    defaults.sa_handler = SIG_DFL;
    for (int signal = 1; signal < NSIG; signal++) (void) sigaction(signal, &defaults, NULL);
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) spawn_fail(report, MAILSTACK_SPAWN_SETUP);

    // Move the report pipe above 2 if it sits there, then stdin, stdout and stderr.
    if (report <= 2) {
        int moved = fcntl(report, F_DUPFD_CLOEXEC, 3);
        if (moved < 0) _exit(127);
        report = moved;
    }
    int input = r->stdin_fd, output = r->output_fd;
    if (input <= 2 && input != 0) { input = fcntl(input, F_DUPFD, 3); }
    if (output <= 2 && output != 1) { output = fcntl(output, F_DUPFD, 3); }
    if (input < 0 || output < 0) spawn_fail(report, MAILSTACK_SPAWN_SETUP);
    if (dup2(input, 0) < 0 || dup2(output, 1) < 0 || dup2(output, 2) < 0) spawn_fail(report, MAILSTACK_SPAWN_SETUP);
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_SETFD, 0) != 0) spawn_fail(report, MAILSTACK_SPAWN_SETUP);
    }
    // Nothing else crosses: every descriptor above 2 is closed, but the report pipe, which is
    // close-on-exec and goes at execve.
    if (report > 3 && syscall(SYS_close_range, 3u, (unsigned) report - 1, 0u) != 0) spawn_fail(report, MAILSTACK_SPAWN_SETUP);
    if (syscall(SYS_close_range, (unsigned) report + 1, ~0u, 0u) != 0) spawn_fail(report, MAILSTACK_SPAWN_SETUP);

    if (chdir(r->directory) != 0) spawn_fail(report, MAILSTACK_SPAWN_DIRECTORY);

    // Raw system calls: the child has one thread, and glibc's wrappers would try to reach the
    // parent's others.
    if (r->switch_user) {
        if (syscall(SYS_setgroups, 0, NULL) != 0) spawn_fail(report, MAILSTACK_SPAWN_IDENTITY);
        if (syscall(SYS_setresgid, r->gid, r->gid, r->gid) != 0) spawn_fail(report, MAILSTACK_SPAWN_IDENTITY);
        if (syscall(SYS_setresuid, r->uid, r->uid, r->uid) != 0) spawn_fail(report, MAILSTACK_SPAWN_IDENTITY);
    }
    // Never as root, whatever was asked.
    uid_t ruid, euid, suid;
    if (getresuid(&ruid, &euid, &suid) != 0) spawn_fail(report, MAILSTACK_SPAWN_IDENTITY);
    if (ruid == 0 || euid == 0 || suid == 0) {
        errno = EPERM;
        spawn_fail(report, MAILSTACK_SPAWN_IDENTITY);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) spawn_fail(report, MAILSTACK_SPAWN_IDENTITY);

    execve(r->path, r->argv, r->envp);
    spawn_fail(report, MAILSTACK_SPAWN_EXEC);
}

pid_t mailstack_spawn(const struct mailstack_spawn_request *request, int *stage) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        *stage = MAILSTACK_SPAWN_FORK;
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(report[0]);
        close(report[1]);
        *stage = MAILSTACK_SPAWN_FORK;
        errno = saved;
        return -1;
    }
    if (pid == 0) {
        close(report[0]);
        spawn_child(request, report[1]);
    }
    close(report[1]);
    struct spawn_failure failure;
    ssize_t got;
    do { got = read(report[0], &failure, sizeof failure); } while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == 0) return pid; // the pipe closed at execve: the program runs
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (got == (ssize_t) sizeof failure) {
        *stage = failure.stage;
        errno = failure.error;
    } else {
        *stage = MAILSTACK_SPAWN_SETUP;
        errno = EIO;
    }
    return -1;
}

int mailstack_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int mailstack_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int mailstack_open_directory(const char *path) {
    return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

int mailstack_pidfd_open(pid_t pid) {
    return (int) syscall(SYS_pidfd_open, pid, 0u);
}

int mailstack_thread_file_identity(uid_t uid, gid_t gid) {
    if (syscall(SYS_setgroups, 0, NULL) != 0) return -1;
    (void) syscall(SYS_setfsgid, gid);
    if ((gid_t) syscall(SYS_setfsgid, (gid_t) -1) != gid) {
        errno = EPERM;
        return -1;
    }
    (void) syscall(SYS_setfsuid, uid);
    if ((uid_t) syscall(SYS_setfsuid, (uid_t) -1) != uid) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

static void lock_wake(int signal) { (void) signal; }

static pthread_once_t lock_handler_once = PTHREAD_ONCE_INIT;

static void lock_handler_install(void) {
    struct sigaction action = { 0 };
    action.sa_handler = lock_wake;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; // no SA_RESTART: the blocked fcntl returns EINTR
    (void) sigaction(SIGALRM, &action, NULL);
}

static int64_t monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int mailstack_lock_wait(int fd, unsigned int timeout_ms) {
    // Open file description locks: they conflict with the fcntl record locks of mail readers
    // like any F_SETLK, but belong to this descriptor, so two deliveries of this process to
    // one file exclude each other and closing one never drops the other's lock.
    struct flock lock = { 0 };
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    if (fcntl(fd, F_OFD_SETLK, &lock) == 0) return 0;
    if (errno != EAGAIN && errno != EACCES) return -1;

    pthread_once(&lock_handler_once, lock_handler_install);
    sigset_t alarm;
    sigemptyset(&alarm);
    sigaddset(&alarm, SIGALRM);
    sigset_t previous;
    pthread_sigmask(SIG_UNBLOCK, &alarm, &previous);
    struct sigevent event = { 0 };
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = SIGALRM;
    event._sigev_un._tid = gettid();
    timer_t timer;
    if (timer_create(CLOCK_MONOTONIC, &event, &timer) != 0) {
        int saved = errno;
        pthread_sigmask(SIG_SETMASK, &previous, NULL);
        errno = saved;
        return -1;
    }
    // First at the deadline, then every 100 ms: a signal that came just before fcntl started
    // waiting is followed by another.
    struct itimerspec when = { 0 };
    when.it_value.tv_sec = timeout_ms / 1000;
    when.it_value.tv_nsec = (long) (timeout_ms % 1000) * 1000000L;
    if (timeout_ms == 0) when.it_value.tv_nsec = 1;
    when.it_interval.tv_nsec = 100 * 1000000L;
    int64_t deadline = monotonic_ms() + timeout_ms;
    int result = -1, saved = 0;
    if (timer_settime(timer, 0, &when, NULL) == 0) {
        for (;;) {
            if (fcntl(fd, F_OFD_SETLKW, &lock) == 0) {
                result = 0;
                break;
            }
            saved = errno;
            if (saved != EINTR) break;
            if (monotonic_ms() >= deadline) {
                saved = ETIMEDOUT;
                break;
            }
        }
    } else {
        saved = errno;
    }
    timer_delete(timer);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (result != 0) errno = saved;
    return result;
}

int mailstack_shared_locks(int fd, int *which) {
    struct flock lock = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
    if (fcntl(fd, F_OFD_SETLK, &lock) != 0) {
        *which = 1;
        return -1;
    }
    if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
        int saved = errno;
        lock.l_type = F_UNLCK;
        fcntl(fd, F_OFD_SETLK, &lock);
        errno = saved;
        *which = 2;
        return -1;
    }
    return 0;
}

int mailstack_exclusive_lock(int fd) {
    struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
    return fcntl(fd, F_OFD_SETLK, &lock);
}
