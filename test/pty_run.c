/* pty_run: runs a program on a pseudo-terminal of its own, for specs that
 * must see a program as a person at a terminal does (spec/repl_spec.lua
 * drives the tide command's interactive prompt through it).
 *
 *   pty_run prog [args...]
 *
 * The program gets a new session whose controlling terminal is the pty's
 * slave side (its stdin, stdout and stderr). What pty_run reads on its own
 * stdin goes to the terminal as if typed: "\x03" is Ctrl-C (the terminal
 * sends SIGINT), "\x04" Ctrl-D; the terminal's output (echo included, with
 * "\r\n" line ends) goes to pty_run's stdout. At EOF on its stdin pty_run
 * stops forwarding but keeps the terminal open. When the program's side of
 * the terminal closes, pty_run reaps it and exits with its status (128 + the
 * signal's number if a signal ended it). If pty_run itself is killed, the
 * terminal closes and the kernel hangs the program up (SIGHUP).
 *
 * Not part of tide: a test tool, built by `make` into build/test/. */
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Writes all of buf to fd; 0, or -1 on a failure other than EINTR. */
static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

int main(int argc, char **argv) {
  struct winsize ws = {24, 80, 0, 0};
  struct pollfd pfd[2];
  char buf[4096];
  int master, status, in_open = 1;
  pid_t pid;

  if (argc < 2) {
    fprintf(stderr, "usage: %s prog [args...]\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  pid = forkpty(&master, NULL, NULL, &ws);
  if (pid < 0) {
    perror("pty_run: forkpty");
    return 2;
  }
  if (pid == 0) {
    execvp(argv[1], argv + 1);
    perror("pty_run: exec");
    _exit(127);
  }
  for (;;) {
    ssize_t n;
    pfd[0].fd = in_open ? 0 : -1;
    pfd[0].events = POLLIN;
    pfd[1].fd = master;
    pfd[1].events = POLLIN;
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR) continue;
      perror("pty_run: poll");
      break;
    }
    if (pfd[1].revents != 0) {
      n = read(master, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      /* EIO: every descriptor of the slave side is closed. */
      if (n <= 0) break;
      if (write_all(1, buf, (size_t)n) != 0) break;
    }
    if (in_open && pfd[0].revents != 0) {
      n = read(0, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        in_open = 0;
        continue;
      }
      if (write_all(master, buf, (size_t)n) != 0) break;
    }
  }
  close(master);
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 2;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}
