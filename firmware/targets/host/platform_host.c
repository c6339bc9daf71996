/* Board layer for the `host` target: the application on Linux, its serial
 * port a pseudo-terminal. Prints "edgemb-host: serial on /dev/pts/N" on
 * stdout; any serial client (pyserial, `edgemb verify --port`) opens that path. */
#define _XOPEN_SOURCE 600 /* posix_openpt, grantpt, unlockpt, ptsname, clock_gettime */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <signal.h>
#include <sys/prctl.h>
#endif

#include "platform.h"

static int master_fd = -1;
static int slave_fd = -1;

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* cfmakeraw without leaving POSIX: bytes pass through untouched, no echo. */
static void make_raw(int fd) {
  struct termios t;
  if (tcgetattr(fd, &t) != 0) die("edgemb-host: tcgetattr");
  t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON | IXOFF);
  t.c_oflag &= ~(tcflag_t)OPOST;
  t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
  t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
  t.c_cflag |= CS8;
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  if (tcsetattr(fd, TCSANOW, &t) != 0) die("edgemb-host: tcsetattr");
}

static const char *open_pty(void) {
  const char *name;
  master_fd = posix_openpt(O_RDWR | O_NOCTTY);
  if (master_fd < 0) die("edgemb-host: posix_openpt");
  if (grantpt(master_fd) != 0 || unlockpt(master_fd) != 0) die("edgemb-host: grantpt");
  name = ptsname(master_fd);
  if (name == NULL) die("edgemb-host: ptsname");
  /* We hold the serial side open ourselves: it is raw before any client opens
   * it (no echo of our replies back to us), and a client closing the port does
   * not hang up the line, just as with a USB serial adapter. */
  slave_fd = open(name, O_RDWR | O_NOCTTY);
  if (slave_fd < 0) die("edgemb-host: open pty");
  make_raw(slave_fd);
  return name;
}

void em_platform_init(void) {
  const char *name;
#ifdef __linux__
  /* Die with whoever started us, so an interrupted test leaves no board behind. */
  prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
  name = open_pty();
  printf("edgemb-host: serial on %s\n", name);
  fflush(stdout);
}

size_t em_serial_read(uint8_t *buf, size_t max) {
  for (;;) {
    ssize_t n = read(master_fd, buf, max);
    if (n > 0) return (size_t)n;
    if (n < 0 && errno == EINTR) continue;
    die("edgemb-host: read");
  }
}

void em_serial_write(const uint8_t *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(master_fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("edgemb-host: write");
    }
    buf += n;
    len -= (size_t)n;
  }
}

/* Nanoseconds: fine resolution for fast host inferences; wraps every 4.29 s. */
uint32_t em_ticks(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

uint32_t em_ticks_hz(void) { return 1000000000u; }

uint8_t em_ticks_kind(void) { return EM_TICKS_TIMER; }

/* Unknown on a host: the ticks are wall-clock nanoseconds, not cycles. */
uint32_t em_cpu_hz(void) { return 0u; }

const char *em_target_name(void) { return "host"; }
