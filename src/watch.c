/* File system change watchers (libuv's fs_event: inotify on Linux). No Lua
 * here.
 *
 * Events queue up in the watcher until a reader takes them, at most
 * TIDE__WATCH_MAX of them: past that, new events are dropped and the
 * reader gets one "overflow" event once it has taken the queued ones (as
 * inotify's own IN_Q_OVERFLOW), telling it to look at the directory again.
 * An event equal to the last one queued (same name, same kind) is not
 * queued twice: an editor's save is one change, not twenty.
 *
 * The handle keeps the loop alive only while a reader waits, as a signal
 * watcher does. Memory is freed in the close callback, or one ready-queue
 * turn later when the close woke a waiting reader (its wake-up still
 * refers to the future). */
#include <stdlib.h>
#include <string.h>

#include "tide_fs.h"

static void watch_res_close(tide__resource_t *res) {
  tide__watch_close(TIDE__CONTAINER_OF(res, tide__watch_t, res));
}

static void watch_wake(tide__watch_t *w) {
  if (w->rfut.state != TIDE__PENDING) return;
  tide__timer_stop(w->loop, &w->timer);
  tide__future_complete(&w->rfut, TIDE__DONE);
  uv_unref((uv_handle_t *)&w->handle);
}

static void watch_on_timer(tide__timer_t *t) {
  tide__watch_t *w = TIDE__CONTAINER_OF(t, tide__watch_t, timer);
  w->timedout = 1;
  watch_wake(w);
}

/* A cancelled reader: stop its timer; the queue is untouched. */
static int watch_on_cancel(tide__future_t *f) {
  tide__watch_t *w = TIDE__CONTAINER_OF(f, tide__watch_t, rfut);
  tide__timer_stop(w->loop, &w->timer);
  uv_unref((uv_handle_t *)&w->handle);
  return 0;
}

static void watch_push(tide__watch_t *w, int kind, const char *name) {
  size_t len = strlen(name), i;
  char *copy;
  if (w->count > 0) {
    i = (w->head + w->count - 1) % TIDE__WATCH_MAX;
    if (w->ev[i].kind == kind && strcmp(w->ev[i].name, name) == 0) return;
  }
  if (w->count == TIDE__WATCH_MAX) {
    w->overflow = 1;
    return;
  }
  copy = malloc(len + 1);
  if (copy == NULL) {
    w->overflow = 1; /* lost: the reader is told to look again */
    return;
  }
  memcpy(copy, name, len + 1);
  i = (w->head + w->count) % TIDE__WATCH_MAX;
  w->ev[i].kind = kind;
  w->ev[i].name = copy;
  w->count++;
}

static void watch_on_event(uv_fs_event_t *h, const char *filename,
                           int events, int status) {
  tide__watch_t *w = (tide__watch_t *)h;
  if (status < 0) {
    if (w->err == 0) w->err = status;
  } else {
    watch_push(w, (events & UV_RENAME) ? TIDE__WATCH_RENAME
                                        : TIDE__WATCH_CHANGE,
               filename != NULL ? filename : "");
  }
  watch_wake(w);
}

int tide__watch_start(tide_runtime_t *rt, const char *path,
                      tide__watch_t **out) {
  tide__watch_t *w = calloc(1, sizeof(*w));
  int err;
  if (w == NULL) return TIDE_ENOMEM;
  w->ev = calloc(TIDE__WATCH_MAX, sizeof(*w->ev));
  if (w->ev == NULL) {
    free(w);
    return TIDE_ENOMEM;
  }
  w->loop = &rt->loop;
  uv_fs_event_init(rt->loop.uv, &w->handle);
  tide__loop_handle_open(w->loop);
  tide__future_init(&w->rfut, w->loop);
  w->rfut.state = TIDE__DONE; /* pending exactly while a reader waits */
  w->rfut.cancel = watch_on_cancel;
  tide__timer_init(&w->timer, watch_on_timer);
  w->res.close = watch_res_close;
  tide__link_insert_tail(&rt->resources, &w->res.link);
  err = uv_fs_event_start(&w->handle, watch_on_event, path, 0);
  if (err != 0) {
    tide__watch_close(w);
    return err;
  }
  uv_unref((uv_handle_t *)&w->handle);
  *out = w;
  return 0;
}

int tide__watch_take(tide__watch_t *w, int *kind, char **name) {
  if (w->count > 0) {
    *kind = w->ev[w->head].kind;
    *name = w->ev[w->head].name; /* the caller's now */
    w->head = (w->head + 1) % TIDE__WATCH_MAX;
    w->count--;
    return 1;
  }
  if (w->overflow) {
    w->overflow = 0;
    *kind = TIDE__WATCH_OVERFLOW;
    *name = NULL;
    return 1;
  }
  return 0;
}

void tide__watch_wait(tide__watch_t *w, uint64_t timeout_ns) {
  tide__future_reset(&w->rfut);
  w->timedout = 0;
  if (timeout_ns != 0)
    tide__timer_start(w->loop, &w->timer,
                      tide__loop_now(w->loop) + timeout_ns);
  uv_ref((uv_handle_t *)&w->handle);
}

static void watch_free(void *data, uintptr_t arg) {
  tide__watch_t *w = data;
  (void)arg;
  while (w->count > 0) {
    free(w->ev[w->head].name);
    w->head = (w->head + 1) % TIDE__WATCH_MAX;
    w->count--;
  }
  free(w->ev);
  free(w);
}

static void watch_on_close(uv_handle_t *h) {
  tide__watch_t *w = (tide__watch_t *)h;
  tide_loop_t *loop = w->loop;
  if (!w->woke || loop->closing ||
      tide__loop_call_soon(loop, watch_free, w, 0) != 0)
    watch_free(w, 0);
  tide__loop_handle_closed(loop);
}

void tide__watch_close(tide__watch_t *w) {
  if (w->closing) return;
  w->closing = 1;
  if (w->slot != NULL) {
    *w->slot = NULL;
    w->slot = NULL;
  }
  tide__link_remove(&w->res.link);
  tide__timer_stop(w->loop, &w->timer);
  if (w->rfut.state == TIDE__PENDING) {
    if (!tide__link_empty(&w->rfut.waiters)) w->woke = 1;
    tide__future_complete(&w->rfut, TIDE__FAILED);
  }
  uv_close((uv_handle_t *)&w->handle, watch_on_close);
}
