/* Lua binding of tide.Queue, tide.LifoQueue and tide.PriorityQueue:
 * asyncio's queues (with Python 3.13's shutdown as close) in C, with
 * strict FIFO fairness among waiting getters and putters.
 *
 * Items live in a Lua table (user value 1): a ring buffer for Queue, a
 * stack for LifoQueue, a binary heap ordered by `<` for PriorityQueue.
 * Waiting getters and putters are parked tasks (tide__task_park): a wait
 * allocates nothing, and a hand-off wakes the other task straight onto the
 * ready queue.
 *
 * Fairness without barging: a put that finds getters waiting wakes the
 * oldest one and reserves an item for it (ritems): until it runs, a get
 * arriving later sees only the items beyond the reserved ones. Likewise a
 * get that frees a slot while putters wait reserves the slot for the oldest
 * putter (rslots), so a put arriving later cannot take it. A waiter
 * cancelled after it was woken (cancelled before it ran) passes its
 * reservation on: a cancelled get has not taken, a cancelled put has not
 * put. Closing wakes every waiter without a reservation (the park ends
 * FAILED) and they raise a "closed" error. */
#include <string.h>

#include "../tide_lua.h"

#define MT_QUEUE "tide.Queue"

enum { KIND_FIFO, KIND_LIFO, KIND_PRIO };

typedef struct {
  tide__waitq_t getters;   /* wait while no unreserved item is there */
  tide__waitq_t putters;   /* wait while no slot is free */
  tide__waitq_t joiners;   /* wait until unfinished is 0 */
  lua_Integer maxsize;     /* 0: no limit */
  lua_Integer head;        /* FIFO: the ring's first slot (0-based) */
  lua_Integer count;       /* items held */
  lua_Integer cap;         /* slots of the table (FIFO ring) */
  lua_Integer ritems;      /* items reserved for woken getters */
  lua_Integer rslots;      /* slots reserved for woken putters */
  lua_Integer unfinished;  /* items put and not yet task_done() */
  int kind;
  int closed;
} lqueue_t;

/* Methods carry the runtime box (upvalue 1) and the metatable (2). */
static lqueue_t *queue_check(lua_State *L) {
  return tide__lua_checkself(L, 1, 2, MT_QUEUE);
}

static void push_closed(lua_State *L) {
  tide__lua_pusherror(L, "closed", "tide: queue is closed");
}

/* ------------------------------------------------------------ storage */

/* The items table of the queue at index 1 is pushed by callers as needed;
 * these take its index. */

/* Grows the FIFO ring (the table at t) to hold one more item, unrolling it
 * so the head is slot 0. */
static void fifo_grow(lua_State *L, lqueue_t *q, int t) {
  lua_Integer i, ncap = q->cap ? q->cap * 2 : 4;
  luaL_checkstack(L, 2, NULL);
  lua_createtable(L, (int)(ncap < 1 << 20 ? ncap : 1 << 20), 0);
  for (i = 0; i < q->count; i++) {
    lua_rawgeti(L, t, (q->head + i) % q->cap + 1);
    lua_rawseti(L, -2, i + 1);
  }
  lua_replace(L, t);
  lua_pushvalue(L, t);
  lua_setiuservalue(L, 1, 1);
  q->head = 0;
  q->cap = ncap;
}

/* The heap's sifts compare with `<`, which may raise (items it cannot
 * compare, a failing __lt): each first finds where the item goes, by
 * comparisons alone, and only then moves items, so an error leaves the
 * heap as it was. */

static int pq_compare_p(lua_State *L) {
  lua_pushboolean(L, lua_compare(L, 1, 2, LUA_OPLT));
  return 1;
}

/* a < b for the heap (absolute or negative indices). Numbers with numbers
 * and strings with strings compare directly; anything else goes through
 * a protected call, so that items `<` cannot order raise an error that
 * says which queue and why, not Lua's bare message. */
static int pq_less(lua_State *L, int a, int b) {
  int ta = lua_type(L, a), tb = lua_type(L, b), less;
  if (ta == tb && (ta == LUA_TNUMBER || ta == LUA_TSTRING))
    return lua_compare(L, a, b, LUA_OPLT);
  a = lua_absindex(L, a);
  b = lua_absindex(L, b);
  luaL_checkstack(L, 3, NULL);
  lua_pushcfunction(L, pq_compare_p);
  lua_pushvalue(L, a);
  lua_pushvalue(L, b);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK)
    luaL_error(L, "tide.PriorityQueue: cannot order the items (%s vs %s): %s",
               luaL_typename(L, a), luaL_typename(L, b),
               lua_tostring(L, -1) ? lua_tostring(L, -1) : "error object");
  less = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return less;
}

/* Places the item at the top of L's stack (popped) at slot i (1-based) of
 * the heap in the table at t, sifting up. */
static void heap_up(lua_State *L, int t, lua_Integer i) {
  lua_Integer j = i;
  while (j > 1) {
    int less;
    lua_rawgeti(L, t, j / 2);
    less = pq_less(L, -2, -1);
    lua_pop(L, 1);
    if (!less) break;
    j /= 2;
  }
  for (; i > j; i /= 2) { /* move the parents down along the path */
    lua_rawgeti(L, t, i / 2);
    lua_rawseti(L, t, i);
  }
  lua_rawseti(L, t, j);
}

/* Places the item at the top (popped) from slot i down, in a heap of n. */
static void heap_down(lua_State *L, int t, lua_Integer i, lua_Integer n) {
  lua_Integer path[64], j = i;
  int len = 0, k;
  for (;;) {
    lua_Integer child = 2 * j;
    int less;
    if (child > n) break;
    lua_rawgeti(L, t, child);
    if (child + 1 <= n) {
      lua_rawgeti(L, t, child + 1);
      if (pq_less(L, -1, -2)) {
        lua_remove(L, -2);
        child++;
      } else {
        lua_pop(L, 1);
      }
    }
    less = pq_less(L, -1, -2); /* child < item */
    lua_pop(L, 1);
    if (!less) break;
    path[len++] = child;
    j = child;
  }
  for (k = 0; k < len; k++) { /* move the smaller children up */
    lua_rawgeti(L, t, path[k]);
    lua_rawseti(L, t, i);
    i = path[k];
  }
  lua_rawseti(L, t, i);
}

/* Adds the item at index 2 (the method's argument). A priority queue
 * compares items with `<`, which may raise: before anything changes.
 * (Stack: a C function has LUA_MINSTACK slots; these need a few.) */
static void queue_push(lua_State *L, lqueue_t *q) {
  int t;
  lua_getiuservalue(L, 1, 1);
  t = lua_gettop(L);
  lua_pushvalue(L, 2);
  switch (q->kind) {
  case KIND_FIFO:
    if (q->count == q->cap) {
      lua_pop(L, 1);
      fifo_grow(L, q, t);
      lua_pushvalue(L, 2);
    }
    lua_rawseti(L, t, (q->head + q->count) % q->cap + 1);
    break;
  case KIND_LIFO:
    lua_rawseti(L, t, q->count + 1);
    break;
  default:
    heap_up(L, t, q->count + 1);
  }
  lua_settop(L, t - 1);
  q->count++;
  q->unfinished++;
}

/* Takes the next item (there is one) and pushes it. */
static void queue_take(lua_State *L, lqueue_t *q) {
  int t;
  lua_getiuservalue(L, 1, 1);
  t = lua_gettop(L);
  switch (q->kind) {
  case KIND_FIFO:
    lua_rawgeti(L, t, q->head + 1);
    lua_pushnil(L);
    lua_rawseti(L, t, q->head + 1);
    q->head = q->count == 1 ? 0 : (q->head + 1) % q->cap;
    break;
  case KIND_LIFO:
    lua_rawgeti(L, t, q->count);
    lua_pushnil(L);
    lua_rawseti(L, t, q->count);
    break;
  default:
    lua_rawgeti(L, t, 1);
    if (q->count > 1) {
      /* The last item sifts down from the root; it leaves its slot only
       * once the sift has succeeded. */
      lua_rawgeti(L, t, q->count);
      heap_down(L, t, 1, q->count - 1);
      lua_pushnil(L);
      lua_rawseti(L, t, q->count);
    } else {
      lua_pushnil(L);
      lua_rawseti(L, t, 1);
    }
  }
  lua_replace(L, t); /* the item over the table */
  q->count--;
}

/* ------------------------------------------------------------ wake-ups */

/* An item is there for a waiting getter: wake the oldest and reserve it. */
static void queue_feed_getter(lqueue_t *q) {
  if (q->getters.n > 0 && q->count > q->ritems &&
      tide__waitq_wake(&q->getters) != NULL)
    q->ritems++;
}

/* Has the queue room for one more put (reserved slots counted)? */
static int queue_has_room(const lqueue_t *q) {
  return q->maxsize == 0 || q->count + q->rslots < q->maxsize;
}

/* A slot is free for a waiting putter: wake the oldest and reserve it. */
static void queue_feed_putter(lqueue_t *q) {
  if (q->putters.n > 0 && queue_has_room(q) &&
      tide__waitq_wake(&q->putters) != NULL)
    q->rslots++;
}

/* ------------------------------------------------------------ put / get */

static int queue_put_k(lua_State *L, int status, lua_KContext ctx) {
  lqueue_t *q = lua_touserdata(L, 1);
  tide_runtime_t *rt = tide__runtime_from(L);
  int cancelled = lua_touserdata(L, -1) == tide__token_cancel;
  int state = rt->current->w->sleep.state;
  (void)status;
  (void)ctx;
  if (state == TIDE__DONE) q->rslots--; /* ours, whatever comes next */
  if (cancelled || state != TIDE__DONE) {
    if (state == TIDE__DONE) queue_feed_putter(q); /* pass the slot on */
    if (!cancelled) { /* closed */
      lua_pop(L, 1);
      push_closed(L);
      return lua_error(L);
    }
    tide__lua_check_wake(L); /* raises */
  }
  lua_pop(L, 1);
  if (q->closed) {
    queue_feed_putter(q);
    push_closed(L);
    return lua_error(L);
  }
  queue_push(L, q);
  queue_feed_getter(q);
  return 0;
}

/* q:put(item): adds item, waiting for room while the queue is full.
 * Raises a "closed" error (tide.is_error(e, "closed")) once the queue is
 * closed, also to a put that was waiting. */
static int l_queue_put(lua_State *L) {
  lqueue_t *q = queue_check(L);
  if (lua_isnoneornil(L, 2))
    return luaL_error(L, "bad argument #1 to 'put' (value expected)");
  if (q->closed) {
    push_closed(L);
    return lua_error(L);
  }
  if (queue_has_room(q) && q->putters.n == 0) {
    queue_push(L, q);
    queue_feed_getter(q);
    return 0;
  }
  {
    tide__task_t *t = tide__lua_await_begin(L);
    return tide__lua_await_yield(L, tide__task_park(L, t, &q->putters), 0,
                                 queue_put_k);
  }
}

/* q:put_nowait(item) -> true if item was added, false if the queue is full.
 * Raises once the queue is closed. */
static int l_queue_put_nowait(lua_State *L) {
  lqueue_t *q = queue_check(L);
  if (lua_isnoneornil(L, 2))
    return luaL_error(L, "bad argument #1 to 'put_nowait' (value expected)");
  lua_settop(L, 2);
  if (q->closed) {
    push_closed(L);
    return lua_error(L);
  }
  if (!queue_has_room(q) || q->putters.n > 0) {
    lua_pushboolean(L, 0);
    return 1;
  }
  tide__runtime_from(L);
  queue_push(L, q);
  queue_feed_getter(q);
  lua_pushboolean(L, 1);
  return 1;
}

/* Takes an item (one beyond the reservations, or a reserved one for the
 * getter that holds the reservation) and lets a putter in. */
static int queue_get_now(lua_State *L, lqueue_t *q) {
  queue_take(L, q);
  queue_feed_putter(q);
  return 1;
}

static int queue_get_k(lua_State *L, int status, lua_KContext ctx) {
  lqueue_t *q = lua_touserdata(L, 1);
  tide_runtime_t *rt = tide__runtime_from(L);
  int cancelled = lua_touserdata(L, -1) == tide__token_cancel;
  int state = rt->current->w->sleep.state;
  (void)status;
  (void)ctx;
  if (state == TIDE__DONE) q->ritems--; /* our reservation */
  if (cancelled) {
    if (state == TIDE__DONE) queue_feed_getter(q); /* pass the item on */
    tide__lua_check_wake(L);                      /* raises */
  }
  lua_pop(L, 1);
  if (state == TIDE__DONE) return queue_get_now(L, q);
  /* Woken by close: items queued before still go out. */
  if (q->count > q->ritems) return queue_get_now(L, q);
  push_closed(L);
  return lua_error(L);
}

/* q:get() -> the next item, waiting while the queue is empty. Once the
 * queue is closed, items left are still given out; then it raises a
 * "closed" error (also to a get that was waiting). */
static int l_queue_get(lua_State *L) {
  lqueue_t *q = queue_check(L);
  if (q->count > q->ritems) return queue_get_now(L, q);
  if (q->closed) {
    push_closed(L);
    return lua_error(L);
  }
  {
    tide__task_t *t = tide__lua_await_begin(L);
    return tide__lua_await_yield(L, tide__task_park(L, t, &q->getters), 0,
                                 queue_get_k);
  }
}

/* q:get_nowait() -> the next item, or nil if the queue is empty. Raises
 * once the queue is closed and empty. */
static int l_queue_get_nowait(lua_State *L) {
  lqueue_t *q = queue_check(L);
  lua_settop(L, 1);
  if (q->count > q->ritems) {
    tide__runtime_from(L);
    return queue_get_now(L, q);
  }
  if (q->closed) {
    push_closed(L);
    return lua_error(L);
  }
  return 0;
}

/* ------------------------------------------------------------ join */

/* q:task_done(): a consumer has finished with an item it got; q:join()
 * returns once every item put has been marked so. Raises if called more
 * times than items were put. */
static int l_queue_task_done(lua_State *L) {
  lqueue_t *q = queue_check(L);
  if (q->unfinished <= 0)
    return luaL_error(L, "tide: Queue:task_done() called more times than "
                         "items were put");
  tide__runtime_from(L);
  if (--q->unfinished == 0)
    while (tide__waitq_wake(&q->joiners) != NULL)
      ;
  return 0;
}

static int queue_join_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  tide__lua_check_wake(L);
  return 0;
}

/* q:join(): waits until every item put has been marked task_done(). */
static int l_queue_join(lua_State *L) {
  lqueue_t *q = queue_check(L);
  tide__task_t *t;
  lua_settop(L, 1);
  if (q->unfinished == 0) return 0;
  t = tide__lua_await_begin(L);
  return tide__lua_await_yield(L, tide__task_park(L, t, &q->joiners), 0,
                               queue_join_k);
}

/* ------------------------------------------------------------ close */

/* q:close([immediate]): no more puts. Waiting putters and getters are woken
 * with a "closed" error (getters wait only on an empty queue); items
 * already queued can still be got. With immediate = true they are dropped
 * too (counted done for join). Closing twice does nothing more. */
static int l_queue_close(lua_State *L) {
  lqueue_t *q = queue_check(L);
  int immediate = lua_toboolean(L, 2);
  tide__runtime_from(L);
  if (!q->closed) {
    q->closed = 1;
    while (tide__waitq_wake_as(&q->putters, TIDE__FAILED) != NULL)
      ;
    while (tide__waitq_wake_as(&q->getters, TIDE__FAILED) != NULL)
      ;
  }
  if (immediate && q->count > q->ritems) {
    lua_Integer drop = q->count - q->ritems;
    lua_settop(L, 1);
    while (q->count > q->ritems) {
      queue_take(L, q);
      lua_pop(L, 1);
    }
    q->unfinished -= drop;
    if (q->unfinished <= 0) {
      q->unfinished = 0;
      while (tide__waitq_wake(&q->joiners) != NULL)
        ;
    }
  }
  return 0;
}

/* ------------------------------------------------------------ the rest */

/* q:qsize() -> items queued (those reserved for woken getters included). */
static int l_queue_qsize(lua_State *L) {
  lua_pushinteger(L, queue_check(L)->count);
  return 1;
}

static int l_queue_empty(lua_State *L) {
  lua_pushboolean(L, queue_check(L)->count == 0);
  return 1;
}

static int l_queue_full(lua_State *L) {
  lqueue_t *q = queue_check(L);
  lua_pushboolean(L, q->maxsize > 0 && q->count >= q->maxsize);
  return 1;
}

static int l_queue_is_closed(lua_State *L) {
  lua_pushboolean(L, queue_check(L)->closed);
  return 1;
}

static int l_queue_maxsize(lua_State *L) {
  lua_pushinteger(L, queue_check(L)->maxsize);
  return 1;
}

/* q:statistics() -> {size =, maxsize =, getters =, putters =, joiners =,
 * unfinished =, reserved = (items and slots promised to woken tasks)}. */
static int l_queue_statistics(lua_State *L) {
  lqueue_t *q = queue_check(L);
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, q->count);
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, q->maxsize);
  lua_setfield(L, -2, "maxsize");
  lua_pushinteger(L, q->getters.n);
  lua_setfield(L, -2, "getters");
  lua_pushinteger(L, q->putters.n);
  lua_setfield(L, -2, "putters");
  lua_pushinteger(L, q->joiners.n);
  lua_setfield(L, -2, "joiners");
  lua_pushinteger(L, q->unfinished);
  lua_setfield(L, -2, "unfinished");
  lua_pushinteger(L, q->ritems + q->rslots);
  lua_setfield(L, -2, "reserved");
  return 1;
}

static int l_queue_tostring(lua_State *L) {
  lqueue_t *q = lua_touserdata(L, 1);
  static const char *const names[] = {"Queue", "LifoQueue", "PriorityQueue"};
  if (q->maxsize > 0)
    lua_pushfstring(L, "tide.%s (%I/%I items%s)", names[q->kind],
                    (lua_Integer)q->count, (lua_Integer)q->maxsize,
                    q->closed ? ", closed" : "");
  else
    lua_pushfstring(L, "tide.%s (%I/inf items%s)", names[q->kind],
                    (lua_Integer)q->count, q->closed ? ", closed" : "");
  return 1;
}

static int queue_gc(lua_State *L) {
  lqueue_t *q = lua_touserdata(L, 1);
  tide__waitq_clear(&q->getters);
  tide__waitq_clear(&q->putters);
  tide__waitq_clear(&q->joiners);
  return 0;
}

static int queue_new(lua_State *L, int kind, const char *fname) {
  lua_Integer maxsize = 0;
  lqueue_t *q;
  if (!lua_isnoneornil(L, 1)) {
    int isint;
    maxsize = lua_tointegerx(L, 1, &isint);
    if (!isint || maxsize < 0)
      return luaL_error(L, "bad argument #1 to '%s' (integer >= 0 expected, "
                           "got %s)",
                        fname, luaL_tolstring(L, 1, NULL));
  }
  q = lua_newuserdatauv(L, sizeof(*q), 1);
  memset(q, 0, sizeof(*q));
  tide__waitq_init(&q->getters);
  tide__waitq_init(&q->putters);
  tide__waitq_init(&q->joiners);
  q->maxsize = maxsize;
  q->kind = kind;
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, MT_QUEUE);
  return 1;
}

/* tide.Queue([maxsize]) -> an empty FIFO queue holding at most maxsize
 * items (nil or 0: no limit). Items may be any value but nil. */
static int l_queue_new(lua_State *L) {
  return queue_new(L, KIND_FIFO, "Queue");
}

/* tide.LifoQueue([maxsize]): the last item put is the first got. */
static int l_lifo_new(lua_State *L) {
  return queue_new(L, KIND_LIFO, "LifoQueue");
}

/* tide.PriorityQueue([maxsize]): the smallest item (by `<`) is got first;
 * items that `<` cannot compare raise at put. */
static int l_prio_new(lua_State *L) {
  return queue_new(L, KIND_PRIO, "PriorityQueue");
}

static const luaL_Reg queue_methods[] = {
    {"put", l_queue_put},
    {"put_nowait", l_queue_put_nowait},
    {"get", l_queue_get},
    {"get_nowait", l_queue_get_nowait},
    {"task_done", l_queue_task_done},
    {"join", l_queue_join},
    {"close", l_queue_close},
    {"qsize", l_queue_qsize},
    {"empty", l_queue_empty},
    {"full", l_queue_full},
    {"is_closed", l_queue_is_closed},
    {"maxsize", l_queue_maxsize},
    {"statistics", l_queue_statistics},
    {NULL, NULL}};

static const luaL_Reg funcs[] = {{"Queue", l_queue_new},
                                 {"LifoQueue", l_lifo_new},
                                 {"PriorityQueue", l_prio_new},
                                 {NULL, NULL}};

/* Registers the queue metatable and constructors into the module at the
 * top of L; the runtime box is at top - 1. */
void tide__lua_open_queue(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  luaL_newmetatable(L, MT_QUEUE);
  lua_newtable(L);
  lua_pushvalue(L, -4);
  lua_pushvalue(L, -3);
  luaL_setfuncs(L, queue_methods, 2);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, queue_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_queue_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, funcs, 1);
}
