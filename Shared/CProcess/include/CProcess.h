// CProcess: the few Linux process calls local-delivery needs that Swift's Glibc module does not
// export (they are _GNU_SOURCE or raw system calls), wrapped once. Used by one Swift type,
// LocalDeliveryService's `LinuxProcess` (and by TestSupport's spawn for closefrom).
#ifndef MAILSTACK_CPROCESS_H
#define MAILSTACK_CPROCESS_H

#include <spawn.h>
#include <sys/types.h>

/// What `mailstack_spawn` runs: a program with its own argv and environment, stdin and
/// stdout+stderr on the given descriptors, in `directory`, in a process group of its own.
struct mailstack_spawn_request {
    const char *path;
    char *const *argv;          // NULL-terminated, argv[0] included
    char *const *envp;          // NULL-terminated: the whole environment
    const char *directory;      // the working directory
    int stdin_fd;               // becomes 0
    int output_fd;              // becomes 1 and 2
    int switch_user;            // non-zero: setgroups(0), setresgid(gid), setresuid(uid) before exec
    uid_t uid;
    gid_t gid;
};

/// The step of the child that failed (reported with its errno before the child exits 127).
enum mailstack_spawn_stage {
    MAILSTACK_SPAWN_FORK = 1,       // fork itself (in the parent)
    MAILSTACK_SPAWN_SETUP = 2,      // process group, signals, descriptors
    MAILSTACK_SPAWN_DIRECTORY = 3,  // chdir
    MAILSTACK_SPAWN_IDENTITY = 4,   // groups, gid, uid, no_new_privs, or still root
    MAILSTACK_SPAWN_EXEC = 5,       // execve
};

/// fork + exec. In the child, before exec: its own process group (setpgid), no blocked or
/// ignored signals, stdin/stdout/stderr as asked and every other descriptor closed
/// (close_range), the directory, the user switch when asked, PR_SET_NO_NEW_PRIVS, and a last
/// check that neither the real nor the effective uid is 0. Returns the pid once exec succeeded;
/// else -1 with the failed stage in *stage and errno set (the child is reaped).
pid_t mailstack_spawn(const struct mailstack_spawn_request *request, int *stage);

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34): the child keeps no descriptor from
/// `from` on (the tests' spawn: sockets of other tests must not live on in a daemon).
int mailstack_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);

/// pipe2(O_CLOEXEC).
int mailstack_pipe_cloexec(int fds[2]);

/// open(path, O_PATH | O_DIRECTORY | O_CLOEXEC): a directory held to open files in (openat)
/// and to ask where it really is, needing no read permission on it.
int mailstack_open_directory(const char *path);

/// pidfd_open(2) (Linux 5.3): a descriptor that polls readable once the process has exited,
/// before it is reaped.
int mailstack_pidfd_open(pid_t pid);

/// The calling thread only (raw system calls: glibc's wrappers would change every thread): no
/// supplementary groups, and `uid`/`gid` for file system access, so what this thread creates,
/// opens and writes is done as that user. Returns 0, or -1 with errno when it did not take
/// effect. For a thread of its own that ends after the work.
int mailstack_thread_file_identity(uid_t uid, gid_t gid);

/// A write lock on the whole file (fcntl F_OFD_SETLKW: F_SETLKW's lock, owned by the open file
/// description), given up after `timeout_ms`: 0, or -1 with errno (ETIMEDOUT when the wait was
/// too long). A per-thread timer interrupts the wait (SIGALRM to this thread, with a handler
/// that does nothing, installed once).
int mailstack_lock_wait(int fd, unsigned int timeout_ms);

/// Shared locks on the whole file without waiting, as a reader of a mail spool takes them: an
/// fcntl read lock (F_OFD_SETLK) and flock(LOCK_SH), the two kinds the spool's writers use
/// (procmail and mail.local fcntl, qpopper flock). 0 when both are held; -1 with errno
/// (EAGAIN/EWOULDBLOCK: a writer holds one; 1 in *which for fcntl, 2 for flock) and neither held.
int mailstack_shared_locks(int fd, int *which);

/// An exclusive fcntl lock on the whole file without waiting (F_OFD_SETLK, F_WRLCK): 0, or -1
/// with errno (EAGAIN: another open file description holds a lock).
int mailstack_exclusive_lock(int fd);

#endif
