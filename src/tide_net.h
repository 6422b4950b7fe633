/* Internal declarations of tide's networking: byte streams (TCP, Unix
 * sockets, pipes, TTYs), servers, connect and DNS requests, UDP sockets.
 *
 * The files named after each concern (stream.c, tcp.c, pipe.c, dns.c,
 * udp.c) are free of lua_State: they own the libuv handles, the buffers and
 * the futures a task waits on. The Lua bindings (src/lua/l*.c) only read
 * arguments, wait on those futures and push results.
 *
 * Memory: every object here is malloc'd with its libuv handle (the first
 * member; a stream's is its last, found by its place: tide__stream_of) and
 * freed only after the handle's close callback (streams: one
 * ready-queue turn later, see stream.c). A Lua object is a small userdata
 * holding a pointer to it; the pointer is cleared (through `slot`) when the
 * close starts, so Lua never touches a closing object. */
#ifndef TIDE_NET_H
#define TIDE_NET_H

#include "tide_lua.h"

/* Defaults, all settable per stream. */
#define TIDE__RBUF_INIT (16 * 1024)  /* first read buffer */
#define TIDE__READ_LIMIT (64 * 1024) /* stop reading past this many buffered
                                        bytes nobody asked for */
#define TIDE__HIGH_WATER (64 * 1024) /* write() waits above this (asyncio's) */
#define TIDE__LOW_WATER (16 * 1024)  /* ... until the queue is below this */
#define TIDE__MAX_LINE (64 * 1024)   /* readline / readuntil limit */

/* Kinds of stream handle. */
enum { TIDE__TCP = 1, TIDE__PIPE, TIDE__TTY };

/* What the waiting reader needs before it is woken (RHANDSHAKE: the end of
 * a TLS handshake). */
enum { TIDE__RANY = 0, TIDE__REXACT, TIDE__RSEP, TIDE__RHANDSHAKE };

typedef struct tide__stream_s tide__stream_t;

/* The parts of a stream most connections never use: the timeouts and
 * their timers, the writers' wait, the half-close and connect requests,
 * the end-of-reading listener (a child process's output pipes). A
 * stream makes it on first need (tide__stream_ext) and frees it with
 * itself, so an idle connection does not carry ~370 bytes of them. */
typedef struct {
  tide__timer_t rtimer;     /* the reader's timeout */
  uint64_t rtimeout;        /* ns; 0: none */
  tide__future_t wfut;      /* pending while writers wait (several may) */
  tide__timer_t wtimer;     /* the writers' timeout; a lingering close's */
  uint64_t wtimeout;        /* ns; 0: none */
  size_t wwake;             /* wake the writers at or below this */
  uintptr_t wepoch;         /* bumped per wait on wfut */
  uintptr_t wtimedout;      /* the epoch whose wait timed out */
  /* Half-close and connect requests live here: their callbacks run before
   * the close callback, while the stream still exists. */
  uv_shutdown_t sreq;
  tide__future_t sfut;      /* pending while shutdown() waits */
  int serr;
  uv_connect_t creq;
  /* Told once that the read side is over: the end of the stream or a read
   * error (rerr says which) has arrived, or the stream is closing. A child
   * process's output pipe tells its process this way that it is drained.
   * NULL: nobody listens. */
  void (*on_rend)(tide__stream_t *s, void *data);
  void *rend_data;
  /* The limits, once one is set (setoptions, a server's options): a
   * stream without an ext has the defaults (tide__stream_max_line ...). */
  size_t rlimit;           /* read ahead at most this much */
  size_t max_line;         /* readline/readuntil limit */
  size_t high, low;        /* the write queue's water marks */
  struct tide__tls_s *tls; /* TLS (tide_tls.h), or NULL: a plain stream */
} tide__stream_ext_t;

struct tide__stream_s {
  /* The loop is rfut.loop (tide__stream_loop): not kept twice. */
  tide__resource_t res;     /* in rt->resources until the handle closes */
  tide__stream_t **slot;    /* the Lua object's pointer to us, or NULL */
  /* Read side: buffered bytes are rbuf[rstart, rend). A stream holds a
   * buffer only while bytes wait in it (NULL, rcapl 0 otherwise): an
   * emptied one goes back to the loop's pool (stream.c). */
  char *rbuf;
  size_t rstart, rend;
  /* Error codes are libuv's and tide's (all above -32768: the check
   * below), so 16 bits hold them. */
  int16_t rerr;             /* UV_EOF or the read error, once seen */
  int16_t werr;             /* the first write error */
  uint8_t rmode;            /* TIDE__RANY ...: what the reader waits for
                               (a byte: set per wait, no masking) */
  uint8_t kind;             /* TIDE__TCP ... */
  uint8_t rcapl;            /* the buffer's size (tide__stream_rcap): 0
                               none, k: TIDE__RBUF_INIT << (k - 1) */
  unsigned reading : 1;     /* uv_read_start is in effect */
  unsigned rtimedout : 1;   /* the reader's timer fired */
  unsigned shut : 1;        /* shutdown() was called */
  unsigned shut_done : 1;   /* ... and has completed */
  unsigned closing : 1;     /* uv_close has been called */
  unsigned woke : 1;        /* the close woke a waiting task */
  unsigned lingering : 1;   /* closed by its user, flushing queued bytes */
  unsigned accepted : 1;    /* made by a server's accept (counted active) */
  size_t rwant;             /* REXACT: the byte count; RSEP: the
                               separator's length (one field: a reader
                               waits in one mode at a time) */
  const char *rsep;         /* RSEP: the separator (anchored on the reader's
                               stack while it waits) */
  size_t rscan;             /* RSEP: bytes the waiting reader has searched
                               without a match (reset per wait) */
  tide__future_t rfut;      /* pending exactly while a reader waits */
  /* Write side. */
  size_t wqueued; /* bytes in uv_write requests not yet done */
  /* Last, and allocated only as large as the kind needs (a TCP handle is
   * 64 bytes smaller than a TTY's); handle.data is the ext (x). */
  union {
    /* The ext, made on first need (tide__stream_ext), or NULL. It is kept
     * in the handle's data pointer, which every handle type starts with
     * and libuv leaves to its user: a callback finds its stream by the
     * handle's place instead (tide__stream_of). */
    tide__stream_ext_t *x;
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_tty_t tty;
  } u;
};

/* The stream whose handle h is (any of the union's handles). */
static inline tide__stream_t *tide__stream_of(const void *h) {
  return (tide__stream_t *)((char *)h - offsetof(tide__stream_t, u));
}

/* The read buffer's size: 0 without one, else TIDE__RBUF_INIT times a
 * power of two (a buffer only grows by doubling), so a byte holds it. */
static inline size_t tide__stream_rcap(const tide__stream_t *s) {
  return s->rcapl != 0 ? (size_t)TIDE__RBUF_INIT << (s->rcapl - 1) : 0;
}

/* The stream's loop, and its limits: the ext's once one is set, the
 * defaults otherwise (an idle connection does not carry them). Setting a
 * limit makes the ext (tide__stream_set_limits). */
static inline tide_loop_t *tide__stream_loop(const tide__stream_t *s) {
  return s->rfut.loop;
}
/* Every error code a stream keeps fits its 16-bit rerr and werr (libuv's
 * are above -4096). */
typedef char
    tide__stream_err_fits[(TIDE_ETLSEOF >= INT16_MIN &&
                           TIDE_ESTATE >= INT16_MIN && UV__EOF >= INT16_MIN)
                              ? 1
                              : -1];
/* The stream's TLS (tide_tls.h), or NULL: a plain stream. It lives in the
 * ext: a plain stream without one pays the same single test. */
static inline struct tide__tls_s *tide__stream_tls(const tide__stream_t *s) {
  return s->u.x != NULL ? s->u.x->tls : NULL;
}
/* Is n below the read-ahead limit? An ext's limit is never below the
 * default (it only grows, for a long max_line), so the usual case needs
 * no look at the ext. */
static inline int tide__stream_below_rlimit(const tide__stream_t *s,
                                            size_t n) {
  return n < TIDE__READ_LIMIT || (s->u.x != NULL && n < s->u.x->rlimit);
}
static inline size_t tide__stream_max_line(const tide__stream_t *s) {
  return s->u.x != NULL ? s->u.x->max_line : TIDE__MAX_LINE;
}
static inline size_t tide__stream_high(const tide__stream_t *s) {
  return s->u.x != NULL ? s->u.x->high : TIDE__HIGH_WATER;
}
static inline size_t tide__stream_low(const tide__stream_t *s) {
  return s->u.x != NULL ? s->u.x->low : TIDE__LOW_WATER;
}

/* How long a closed stream may take to flush the bytes still queued. */
#define TIDE__LINGER_NS (30 * (uint64_t)1000000000)

/* stream.c */
/* Allocates a stream of kind for loop and initializes its handle (for a
 * TTY, fd is the descriptor; otherwise ignored). Links it into resources.
 * Returns NULL with *err set on failure. */
tide__stream_t *tide__stream_new(tide_runtime_t *rt, int kind, int fd,
                                 int *err);
/* Starts reading ahead (connected and accepted streams). */
int tide__stream_start(tide__stream_t *s);
/* For TLS (tlsstream.c): free room at the end of the read buffer, made as
 * for a socket read (0: out of memory); should more bytes come into the
 * buffer; wakes the reader if it has what it waits for; sends bytes as
 * they are (tide__stream_write minus TLS). */
size_t tide__stream_reserve(tide__stream_t *s);
int tide__stream_wants_data(tide__stream_t *s);
void tide__stream_wake_reader(tide__stream_t *s);
/* Starts or stops reading from the socket as the buffer and the reader
 * need (a TLS stream decrypts what it holds first). */
void tide__stream_update_reading(tide__stream_t *s);
int tide__stream_send(tide__stream_t *s, const char *p, size_t len);
static inline size_t tide__stream_buffered(const tide__stream_t *s) {
  return s->rend - s->rstart;
}
/* The first buffered byte, or "" when nothing is buffered (the stream then
 * holds no buffer at all: never NULL + offset). Valid until the next
 * consume or read. */
static inline const char *tide__stream_data(const tide__stream_t *s) {
  return s->rend > s->rstart ? s->rbuf + s->rstart : "";
}
/* Lets go of the read buffer if it holds nothing (it goes back to the
 * loop's pool): after a path that may have emptied it without
 * tide__stream_consume. */
void tide__stream_settle(tide__stream_t *s);
/* Drops n buffered bytes (the reader has copied them); an emptied buffer
 * goes back to the pool. */
void tide__stream_consume(tide__stream_t *s, size_t n);
/* Finds the separator in the buffer; returns its offset from rstart, or
 * -1. */
long tide__stream_find(tide__stream_t *s, const char *sep, size_t seplen);
/* Prepares rfut for a reader that needs mode (n bytes, or sep): resets it,
 * arms the read timer (the stream's read timeout), makes sure the stream
 * reads. */
void tide__stream_wait_read(tide__stream_t *s, int mode, size_t n,
                            const char *sep, size_t seplen);
/* The same with a timeout of its own (ns, 0: none); a timeout needs the
 * stream's ext, which the caller has made (tide__stream_ext). */
void tide__stream_wait_read_for(tide__stream_t *s, int mode, size_t n,
                                const char *sep, size_t seplen,
                                uint64_t timeout_ns);
/* The stream's rarely used parts, made on first call; NULL when out of
 * memory. */
tide__stream_ext_t *tide__stream_ext(tide__stream_t *s);
/* Writes: tries to write at once, queues (copies) the rest. Returns 0 or a
 * negative error (also kept in s->werr). */
int tide__stream_write(tide__stream_t *s, const char *p, size_t len);
/* Prepares wfut (in the ext, which the caller has made) for a writer that
 * waits until at most threshold bytes are queued; returns the wait's
 * epoch. */
uintptr_t tide__stream_wait_write(tide__stream_t *s, size_t threshold);
/* Starts the half-close; sfut completes when it is done. Makes the ext
 * (TIDE_ENOMEM). */
int tide__stream_shutdown(tide__stream_t *s);
/* Detaches the stream from Lua, wakes its waiters and closes the handle;
 * queued bytes are dropped. Idempotent. */
void tide__stream_close(tide__stream_t *s);
/* Closes for the user but lets queued bytes go out first (close()). */
void tide__stream_close_flush(tide__stream_t *s);
/* Sets the read timeout (ns, 0: none): 0 or TIDE_ENOMEM. */
int tide__stream_set_rtimeout(tide__stream_t *s, uint64_t ns);
/* Sets the write timeout likewise. */
int tide__stream_set_wtimeout(tide__stream_t *s, uint64_t ns);

/* ---------------------------------------------------------------- connect */

/* One connection attempt (tcp.c, pipe.c). refs: one for the libuv callback
 * while it is pending, one for the waiting Lua continuation; freed at 0. */
typedef struct tide__server_s tide__server_t;

typedef struct {
  tide__future_t fut;       /* first; done when the attempt is over */
  tide__stream_t *s;        /* the connecting stream; NULL once closed or
                               handed over */
  tide__timer_t timer;      /* the connect timeout */
  int status;               /* 0 or the error */
  int refs;
} tide__connect_t;

/* A stream of kind and its connect attempt (see tcp.c); NULL, *err. */
tide__connect_t *tide__connect_new(tide_runtime_t *rt, int kind,
                                   uint64_t timeout_ns, int *err);
/* The continuation is done with it (frees it at the last reference). */
void tide__connect_release(tide__connect_t *c);
/* The libuv connect callback, shared by TCP and pipes. */
void tide__connect_on_connect(uv_connect_t *req, int status);
/* Starts connecting a new stream to sa (TCP) or path (Unix socket); *out
 * is the attempt (its future may already be done). */
int tide__tcp_connect(tide_runtime_t *rt, const struct sockaddr *sa,
                      uint64_t timeout_ns, tide__connect_t **out);
int tide__pipe_connect(tide_runtime_t *rt, const char *path,
                       uint64_t timeout_ns, tide__connect_t **out);
/* Makes a stream of an open descriptor (a dup of it: closing the stream
 * never closes fd): a TTY, a pipe or a socket. */
int tide__pipe_open(tide_runtime_t *rt, int fd, tide__stream_t **out);
int tide__pipe_bind(tide__server_t *srv, const char *path);

/* ---------------------------------------------------------------- servers */

/* Called for each accepted connection (s, 0) or accept error (NULL, err).
 * The callee owns s. */
typedef void (*tide__server_cb)(tide__server_t *srv, tide__stream_t *s,
                                int status);
struct tide__server_s {
  uv_poll_t poll;           /* first: readable when connections wait */
  int fd;                   /* the listening socket, or -1 */
  tide_runtime_t *rt;
  tide__resource_t res;     /* in rt->resources until closed */
  void **slot;              /* the Lua object's pointer to us, or NULL */
  int kind;                 /* TIDE__TCP or TIDE__PIPE */
  tide__server_cb on_conn;
  int ref;                  /* registry: the Lua server object, pinned while
                               listening; owner: this server (the binding
                               takes and releases it) */
  int accept_errors;        /* accept failures seen (EMFILE, ...) */
  char *path;               /* Unix socket: unlinked on close */
  unsigned polling : 1;     /* poll is initialised (closed in close) */
  unsigned closing : 1;
};

/* Servers accept on their own (accept4 on a socket tide made, watched with
 * a uv_poll_t) rather than through uv_listen: tide sees every accept error
 * (libuv hides EMFILE behind its reserve descriptor) and makes the socket
 * itself (SO_REUSEPORT). */
tide__server_t *tide__server_new(tide_runtime_t *rt, int kind, int *err);
/* Makes the TCP socket and binds it to sa. flags: TIDE__BIND_*. */
#define TIDE__BIND_IPV6ONLY 1
#define TIDE__BIND_REUSEPORT 2
int tide__server_bind(tide__server_t *srv, const struct sockaddr *sa,
                      int flags);
int tide__server_listen(tide__server_t *srv, int backlog);
/* Takes fd, a socket bound (and perhaps listening) elsewhere, as the
 * server's (a worker's socket from its supervisor): made non-blocking;
 * closed on failure. tide__server_listen follows. */
int tide__server_open(tide__server_t *srv, int fd);
/* Closes every server of the runtime (their owners' close, so a binding
 * lets go of its references): SIGTERM's drain. Returns how many. */
int tide__server_close_all(tide_runtime_t *rt);
/* The address the server listens on. */
int tide__server_sockname(tide__server_t *srv, struct sockaddr_storage *ss);
/* Stops accepting and closes the handle (idempotent). The binding releases
 * ref first; it replaces res.close to do so on runtime close too. */
void tide__server_close(tide__server_t *srv);

/* ---------------------------------------------------------------- dns */

typedef struct {
  tide__future_t fut;       /* first */
  union {
    uv_getaddrinfo_t ai;
    uv_getnameinfo_t ni;
  } req;
  tide_loop_t *loop;
  tide__timer_t timer;
  struct addrinfo *res;     /* getaddrinfo's answer, freed with the request */
  char host[NI_MAXHOST];    /* getnameinfo's answer */
  int status;
  int refs;                 /* the libuv callback, the continuation */
} tide__dns_t;

int tide__dns_getaddrinfo(tide_loop_t *loop, const char *host, int family,
                          uint64_t timeout_ns, tide__dns_t **out);
int tide__dns_getnameinfo(tide_loop_t *loop, const struct sockaddr *sa,
                          uint64_t timeout_ns, tide__dns_t **out);
void tide__dns_release(tide__dns_t *d);

/* ---------------------------------------------------------------- udp */

#define TIDE__DGRAM_MAX 65536 /* receive buffer: the largest datagram */

typedef struct {
  uv_udp_t handle;          /* first */
  tide_loop_t *loop;
  tide__resource_t res;     /* in rt->resources until the handle closes */
  void **slot;              /* the Lua object's pointer to us, or NULL */
  char *buf;                /* TIDE__DGRAM_MAX bytes, made on first receive */
  size_t len;               /* the datagram held in buf */
  struct sockaddr_storage from; /* ... and its sender */
  int rerr;                 /* a receive error to report once */
  tide__future_t rfut;      /* pending exactly while a receiver waits */
  tide__timer_t rtimer;
  uint64_t rtimeout;        /* ns; 0: none */
  unsigned held : 1;        /* buf holds a datagram nobody took yet */
  unsigned receiving : 1;   /* uv_udp_recv_start is in effect */
  unsigned rtimedout : 1;
  unsigned closing : 1;
  unsigned woke : 1;        /* the close woke a waiting receiver */
} tide__udp_t;

tide__udp_t *tide__udp_new(tide_runtime_t *rt, int family, int *err);
/* Prepares rfut for a receiver and starts receiving one datagram. */
int tide__udp_wait_recv(tide__udp_t *u);
/* Sends now if the socket can take it, else queues a copy. addr NULL: to
 * the connected peer. */
int tide__udp_send(tide__udp_t *u, const char *p, size_t len,
                   const struct sockaddr *addr);
void tide__udp_close(tide__udp_t *u);

/* ---------------------------------------------------------------- addresses */

/* Parses a numeric IPv4 or IPv6 address and port. Returns 0 or UV_EINVAL. */
int tide__addr_parse(const char *host, int port, struct sockaddr_storage *ss);
/* Writes the numeric host of sa into buf; returns its port. */
int tide__addr_name(const struct sockaddr *sa, char *buf, size_t len);

/* ---------------------------------------------------------------- Lua */

/* lstream.c */
#define TIDE__MT_STREAM "tide.stream"
#define TIDE__MT_SERVER "tide.server"
void tide__lua_pushstream(lua_State *L, tide__stream_t *s);
/* The C stream of the stream object at idx (raises if it is not one), or
 * NULL once it is closed: for child processes' stdio (lprocess.c) and
 * protocol bindings that parse straight from the read buffer (lhttp.c). */
tide__stream_t *tide__lua_checkstream(lua_State *L, int idx);
/* Where the stream object at idx keeps its C stream (NULL once closed):
 * valid as long as the object is (a binding that anchors the object reads
 * it without a type check per call). */
tide__stream_t **tide__lua_streamslot(lua_State *L, int idx);
/* Applies the stream options of the table at idx (0: none). */
void tide__lua_stream_options(lua_State *L, int idx, tide__stream_t *s);
/* Pushes nil, "NAME: message", "NAME"; returns 3. msg NULL: strerror. */
int tide__lua_fail(lua_State *L, int err, const char *msg);
/* Seconds (number or nil) at idx of the table at t, as ns (0: none). */
uint64_t tide__lua_opt_seconds(lua_State *L, int t, const char *key);
/* Continuation and spawning shared by TCP and Unix sockets (ltcp.c). */
int tide__lua_connect_wait(lua_State *L, tide__connect_t *c, int opts);
int tide__lua_server_new(lua_State *L, tide__server_t *srv, int runner);

#endif
