/* Lua binding of the synchronization primitives: tide.Lock, tide.Semaphore,
 * tide.BoundedSemaphore, tide.Event, tide.Condition, and core.waitq (a bare
 * wait queue for the primitives written in Lua: Barrier, groups).
 *
 * Waiters are the tasks themselves, parked on a C wait queue (task.c:
 * tide__task_park): a wait allocates nothing, a wake-up puts the task
 * straight on the ready queue, and a cancelled waiter leaves in O(1). All
 * are fair (Trio's rule): waiters are served first come, first served, and
 * a lock or permit is handed over to the oldest waiter on release, so a
 * task arriving later cannot take it first. A waiter cancelled after it was
 * handed something (woken, but cancelled before it ran) passes it on: a
 * cancelled acquire never holds anything.
 *
 * Each continuation reads how its park ended from the task's wait future:
 * DONE, woken and handed what it waited for; FAILED, woken without (the
 * waitq's fail); CANCELLED, taken off the queue by a cancellation. */
#include <string.h>

#include "../tide_lua.h"

#define MT_LOCK "tide.Lock"
#define MT_SEM "tide.Semaphore"
#define MT_EVENT "tide.Event"
#define MT_COND "tide.Condition"
#define MT_WAITQ "tide.waitq"

typedef struct {
  tide__waitq_t q;
  int held;
} llock_t;

typedef struct {
  tide__waitq_t q;
  lua_Integer value;
  lua_Integer bound; /* BoundedSemaphore: the starting value; 0: none */
} lsem_t;

typedef struct {
  tide__waitq_t q;
  int flag;
} levent_t;

typedef struct {
  tide__waitq_t q; /* waiting for a notify; the lock is user value 1 */
} lcond_t;

typedef struct {
  tide__waitq_t q;
} lwaitq_t;

/* ------------------------------------------------------------ helpers */

/* Parks the running task on q and yields; k continues. Raises outside a
 * task, and (level-triggered) in a cancelled scope. */
static int park(lua_State *L, tide__waitq_t *q, lua_KContext ctx,
                lua_KFunction k) {
  tide__task_t *t = tide__lua_await_begin(L);
  return tide__lua_await_yield(L, tide__task_park(L, t, q), ctx, k);
}

/* In a continuation: how the park ended (the task's wait future's state),
 * and whether the task is resumed with a cancellation. */
static int park_state(lua_State *L, int *cancelled) {
  tide_runtime_t *rt = tide__runtime_from(L);
  *cancelled = lua_type(L, -1) == LUA_TLIGHTUSERDATA &&
               lua_touserdata(L, -1) == tide__token_cancel;
  return rt->current != NULL && rt->current->w != NULL
             ? rt->current->w->sleep.state
             : TIDE__CANCELLED;
}

/* Pushes a statistics table {waiting = n} plus the given fields. */
static void push_stats(lua_State *L, const tide__waitq_t *q) {
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, q->n);
  lua_setfield(L, -2, "waiting");
}

static int waitq_gc(lua_State *L) {
  /* Every primitive starts with its wait queue. A parked task's frame
   * anchors the object it waits on, so this finds the queue empty unless
   * its tasks were dropped; it never leaves them pointing at freed
   * memory. */
  tide__waitq_clear(lua_touserdata(L, 1));
  return 0;
}

/* ------------------------------------------------------------ Lock */

static llock_t *lock_check(lua_State *L) {
  return tide__lua_checkself(L, 1, 2, MT_LOCK);
}

/* tide.Lock() -> a new, unlocked lock. */
static int l_lock_new(lua_State *L) {
  llock_t *lk = lua_newuserdatauv(L, sizeof(*lk), 0);
  tide__waitq_init(&lk->q);
  lk->held = 0;
  luaL_setmetatable(L, MT_LOCK);
  return 1;
}

/* Frees the lock, handing it to the oldest waiter if there is one (it stays
 * held, by that waiter). */
static void lock_release(llock_t *lk) {
  if (tide__waitq_wake(&lk->q) == NULL) lk->held = 0;
}

static int lock_acquire_k(lua_State *L, int status, lua_KContext ctx) {
  llock_t *lk = lua_touserdata(L, 1);
  int cancelled, state = park_state(L, &cancelled);
  (void)status;
  (void)ctx;
  if (cancelled && state == TIDE__DONE) lock_release(lk); /* pass it on */
  tide__lua_check_wake(L);
  lua_settop(L, 1);
  return 1;
}

/* lock:acquire() -> lock: waits until the lock is free and takes it (for
 * `local _ <close> = lock:acquire()`). Cancelled while waiting: raises
 * without holding the lock. */
static int l_lock_acquire(lua_State *L) {
  llock_t *lk = lock_check(L);
  lua_settop(L, 1);
  if (!lk->held && lk->q.n == 0) {
    lk->held = 1;
    return 1;
  }
  return park(L, &lk->q, 0, lock_acquire_k);
}

/* lock:try_acquire() -> true if it took the lock now, false if it is held
 * (or others wait for it). Never waits. */
static int l_lock_try_acquire(lua_State *L) {
  llock_t *lk = lock_check(L);
  int ok = !lk->held && lk->q.n == 0;
  if (ok) lk->held = 1;
  lua_pushboolean(L, ok);
  return 1;
}

/* lock:release(): frees the lock, handing it to the oldest waiter. Raises
 * if it is not held. Also the lock's __close. */
static int l_lock_release(lua_State *L) {
  llock_t *lk = lock_check(L);
  if (!lk->held) return luaL_error(L, "tide: release of an unlocked Lock");
  tide__runtime_from(L);
  lock_release(lk);
  return 0;
}

static int l_lock_locked(lua_State *L) {
  lua_pushboolean(L, lock_check(L)->held);
  return 1;
}

/* lock:statistics() -> {locked =, waiting =} (Trio's statistics()). */
static int l_lock_statistics(lua_State *L) {
  llock_t *lk = lock_check(L);
  push_stats(L, &lk->q);
  lua_pushboolean(L, lk->held);
  lua_setfield(L, -2, "locked");
  return 1;
}

static int l_lock_tostring(lua_State *L) {
  llock_t *lk = lua_touserdata(L, 1);
  lua_pushfstring(L, "tide.Lock (%s, %d waiting): %p",
                  lk->held ? "locked" : "unlocked", lk->q.n, (void *)lk);
  return 1;
}

/* ------------------------------------------------------------ Semaphore */

static lsem_t *sem_check(lua_State *L) {
  return tide__lua_checkself(L, 1, 2, MT_SEM);
}

static int sem_new(lua_State *L, int bounded) {
  lua_Integer v = 1;
  lsem_t *s;
  if (!lua_isnoneornil(L, 1)) {
    int isint;
    v = lua_tointegerx(L, 1, &isint);
    if (!isint || v < 0)
      return luaL_error(L, "bad argument #1 to '%s' (integer >= 0 expected, "
                           "got %s)",
                        bounded ? "BoundedSemaphore" : "Semaphore",
                        luaL_tolstring(L, 1, NULL));
  }
  s = lua_newuserdatauv(L, sizeof(*s), 0);
  tide__waitq_init(&s->q);
  s->value = v;
  s->bound = bounded ? v : -1;
  luaL_setmetatable(L, MT_SEM);
  return 1;
}

/* tide.Semaphore(value = 1) -> a counter of permits: acquire takes one,
 * waiting while there is none; release gives one back. */
static int l_sem_new(lua_State *L) { return sem_new(L, 0); }
/* tide.BoundedSemaphore(value = 1): releasing more than acquired raises. */
static int l_bsem_new(lua_State *L) { return sem_new(L, 1); }

/* Gives a permit back: to the oldest waiter, or to the count. Returns 0,
 * or -1 for a bounded semaphore released too many times. */
static int sem_release(lsem_t *s) {
  if (tide__waitq_wake(&s->q) != NULL) return 0;
  if (s->bound >= 0 && s->value >= s->bound) return -1;
  s->value++;
  return 0;
}

static int sem_acquire_k(lua_State *L, int status, lua_KContext ctx) {
  lsem_t *s = lua_touserdata(L, 1);
  int cancelled, state = park_state(L, &cancelled);
  (void)status;
  (void)ctx;
  if (cancelled && state == TIDE__DONE) sem_release(s); /* pass it on */
  tide__lua_check_wake(L);
  lua_settop(L, 1);
  return 1;
}

/* sem:acquire() -> sem: takes a permit, waiting for one (FIFO). */
static int l_sem_acquire(lua_State *L) {
  lsem_t *s = sem_check(L);
  lua_settop(L, 1);
  if (s->value > 0 && s->q.n == 0) {
    s->value--;
    return 1;
  }
  return park(L, &s->q, 0, sem_acquire_k);
}

/* sem:try_acquire() -> true if it took a permit now. Never waits. */
static int l_sem_try_acquire(lua_State *L) {
  lsem_t *s = sem_check(L);
  int ok = s->value > 0 && s->q.n == 0;
  if (ok) s->value--;
  lua_pushboolean(L, ok);
  return 1;
}

/* sem:release(): gives a permit back, to the oldest waiter if there is
 * one. A bounded semaphore raises past its starting value. */
static int l_sem_release(lua_State *L) {
  lsem_t *s = sem_check(L);
  tide__runtime_from(L);
  if (sem_release(s) != 0)
    return luaL_error(L, "tide: BoundedSemaphore released too many times");
  return 0;
}

static int l_sem_available(lua_State *L) {
  lua_pushinteger(L, sem_check(L)->value);
  return 1;
}

/* sem:locked() -> true if acquire would wait. */
static int l_sem_locked(lua_State *L) {
  lsem_t *s = sem_check(L);
  lua_pushboolean(L, s->value == 0 || s->q.n > 0);
  return 1;
}

/* sem:statistics() -> {available =, waiting =}. */
static int l_sem_statistics(lua_State *L) {
  lsem_t *s = sem_check(L);
  push_stats(L, &s->q);
  lua_pushinteger(L, s->value);
  lua_setfield(L, -2, "available");
  return 1;
}

static int l_sem_tostring(lua_State *L) {
  lsem_t *s = lua_touserdata(L, 1);
  lua_pushfstring(L, "tide.%sSemaphore (%I available, %d waiting): %p",
                  s->bound >= 0 ? "Bounded" : "", (lua_Integer)s->value,
                  s->q.n, (void *)s);
  return 1;
}

/* ------------------------------------------------------------ Event */

static levent_t *event_check(lua_State *L) {
  return tide__lua_checkself(L, 1, 2, MT_EVENT);
}

/* tide.Event() -> a new event, not set. */
static int l_event_new(lua_State *L) {
  levent_t *e = lua_newuserdatauv(L, sizeof(*e), 0);
  tide__waitq_init(&e->q);
  e->flag = 0;
  luaL_setmetatable(L, MT_EVENT);
  return 1;
}

/* event:set(): sets the flag and wakes every waiting task. */
static int l_event_set(lua_State *L) {
  levent_t *e = event_check(L);
  tide__runtime_from(L);
  if (!e->flag) {
    e->flag = 1;
    while (tide__waitq_wake(&e->q) != NULL)
      ;
  }
  return 0;
}

static int l_event_clear(lua_State *L) {
  event_check(L)->flag = 0;
  return 0;
}

static int l_event_is_set(lua_State *L) {
  lua_pushboolean(L, event_check(L)->flag);
  return 1;
}

static int event_wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  tide__lua_check_wake(L); /* woken or not, a cancelled wait raises */
  lua_pushboolean(L, 1);
  return 1;
}

/* event:wait() -> true once the flag is set (at once if it is). */
static int l_event_wait(lua_State *L) {
  levent_t *e = event_check(L);
  lua_settop(L, 1);
  if (e->flag) {
    lua_pushboolean(L, 1);
    return 1;
  }
  return park(L, &e->q, 0, event_wait_k);
}

static int l_event_statistics(lua_State *L) {
  levent_t *e = event_check(L);
  push_stats(L, &e->q);
  lua_pushboolean(L, e->flag);
  lua_setfield(L, -2, "set");
  return 1;
}

static int l_event_tostring(lua_State *L) {
  levent_t *e = lua_touserdata(L, 1);
  lua_pushfstring(L, "tide.Event (%s, %d waiting): %p",
                  e->flag ? "set" : "clear", e->q.n, (void *)e);
  return 1;
}

/* ------------------------------------------------------------ Condition */

static lcond_t *cond_check(lua_State *L) {
  return tide__lua_checkself(L, 1, 2, MT_COND);
}

/* The condition's lock (user value 1), checked. */
static llock_t *cond_lock(lua_State *L, int idx) {
  llock_t *lk;
  lua_getiuservalue(L, idx, 1);
  lk = lua_touserdata(L, -1);
  lua_pop(L, 1);
  return lk;
}

/* tide.Condition([lock]) -> a condition variable over lock (a new Lock by
 * default). Its acquire/release/locked/with are the lock's. */
static int l_cond_new(lua_State *L) {
  lcond_t *c;
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    l_lock_new(L);
  } else if (luaL_testudata(L, 1, MT_LOCK) == NULL) {
    return luaL_error(L, "bad argument #1 to 'Condition' (tide.Lock "
                         "expected)");
  }
  lua_settop(L, 1);
  c = lua_newuserdatauv(L, sizeof(*c), 1);
  tide__waitq_init(&c->q);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, MT_COND);
  return 1;
}

static void cond_check_held(lua_State *L, const char *what) {
  if (!cond_lock(L, 1)->held)
    luaL_error(L, "tide: Condition:%s() without holding its lock", what);
}

/* Wakes up to n waiters (oldest first). */
static void cond_notify(lcond_t *c, lua_Integer n) {
  while (n-- > 0 && tide__waitq_wake(&c->q) != NULL)
    ;
}

/* Context bits of the second half of wait (taking the lock back). */
#define COND_CANCELLED 1 /* the wait was cancelled */

/* Raises the task's cancellation, marked lock_lost: a second cancellation
 * ended the park that was taking the lock back, so the task does not hold
 * it (Condition's __close then leaves the lock alone). A fresh copy: the
 * plain cancellation's error object is shared. */
static int cond_raise_lost(lua_State *L) {
  tide__lua_push_cancel(L);
  tide__lua_copytable(L, -1);
  if (lua_getmetatable(L, -2)) lua_setmetatable(L, -2);
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "lock_lost");
  return lua_error(L);
}

static int cond_relock_k(lua_State *L, int status, lua_KContext ctx) {
  int cancelled, state = park_state(L, &cancelled);
  (void)status;
  lua_pop(L, 1); /* the token: this park ignores cancellation (below) */
  /* Not handed over: a second cancellation ended the park. */
  if (state != TIDE__DONE) return cond_raise_lost(L);
  /* The lock is ours again (handed over by its release). */
  if (ctx & COND_CANCELLED) return tide__lua_raise_cancel(L);
  lua_pushboolean(L, 1);
  return 1;
}

/* Takes the lock back after a wait, whatever happens meanwhile: its park
 * cannot be cancelled (as Trio's, asyncio's Condition does the same), so
 * the task holds the lock again before a cancellation is raised. Only a
 * second cancellation ends it (the lock may never come back: its holder
 * ended without releasing it), raising a cancellation marked lock_lost. */
static int cond_relock(lua_State *L, llock_t *lk, lua_KContext ctx) {
  tide__task_t *t;
  if (!lk->held && lk->q.n == 0) {
    lk->held = 1;
    if (ctx & COND_CANCELLED) return tide__lua_raise_cancel(L);
    lua_pushboolean(L, 1);
    return 1;
  }
  t = tide__lua_await_begin_uncancellable(L);
  return tide__lua_await_yield(L, tide__task_park_uncancellable(L, t, &lk->q),
                               ctx, cond_relock_k);
}

static int cond_wait_k(lua_State *L, int status, lua_KContext ctx) {
  lcond_t *c = lua_touserdata(L, 1);
  int cancelled, state = park_state(L, &cancelled);
  (void)status;
  (void)ctx;
  lua_pop(L, 1); /* the token */
  if (cancelled && state == TIDE__DONE) cond_notify(c, 1); /* pass it on */
  return cond_relock(L, cond_lock(L, 1), cancelled ? COND_CANCELLED : 0);
}

/* cond:wait() -> true: releases the lock, waits for a notify, and takes the
 * lock back before returning, also when cancelled (the cancellation is
 * raised once the lock is held again). A notification that reached a
 * cancelled waiter passes to the next one. */
static int l_cond_wait(lua_State *L) {
  lcond_t *c = cond_check(L);
  tide__task_t *t;
  lua_settop(L, 1);
  cond_check_held(L, "wait");
  t = tide__lua_await_begin(L); /* raises before the lock is let go */
  lock_release(cond_lock(L, 1));
  return tide__lua_await_yield(L, tide__task_park(L, t, &c->q), 0, cond_wait_k);
}

/* cond:notify(n = 1): wakes up to n waiting tasks, oldest first. The lock
 * must be held. */
static int l_cond_notify(lua_State *L) {
  lcond_t *c = cond_check(L);
  lua_Integer n = luaL_optinteger(L, 2, 1);
  cond_check_held(L, "notify");
  cond_notify(c, n);
  return 0;
}

/* cond:notify_all(): wakes every waiting task. The lock must be held. */
static int l_cond_notify_all(lua_State *L) {
  lcond_t *c = cond_check(L);
  cond_check_held(L, "notify_all");
  cond_notify(c, c->q.n);
  return 0;
}

/* cond:lock() -> the condition's lock (sync.lua gives the condition the
 * lock's methods through it). */
static int l_cond_lock(lua_State *L) {
  cond_check(L);
  lua_getiuservalue(L, 1, 1);
  return 1;
}

static int l_cond_statistics(lua_State *L) {
  lcond_t *c = cond_check(L);
  push_stats(L, &c->q);
  lua_pushboolean(L, cond_lock(L, 1)->held);
  lua_setfield(L, -2, "locked");
  return 1;
}

/* ------------------------------------------------------------ waitq */

/* core.waitq() -> a bare wait queue, for primitives written in Lua:
 * q:wait() parks the running task until q:wake(n)/q:wake_all() (returns
 * true) or q:fail(n) (returns false); a cancelled wait raises, passing a
 * wake-up it was given on to the next waiter. q:size() counts waiters. */
static int l_waitq_new(lua_State *L) {
  lwaitq_t *q = lua_newuserdatauv(L, sizeof(*q), 0);
  tide__waitq_init(&q->q);
  luaL_setmetatable(L, MT_WAITQ);
  return 1;
}

static int waitq_wait_k(lua_State *L, int status, lua_KContext ctx) {
  lwaitq_t *q = lua_touserdata(L, 1);
  int cancelled, state = park_state(L, &cancelled);
  (void)status;
  (void)ctx;
  if (cancelled && state == TIDE__DONE) tide__waitq_wake(&q->q);
  tide__lua_check_wake(L);
  lua_pushboolean(L, state == TIDE__DONE);
  return 1;
}

static int l_waitq_wait(lua_State *L) {
  lwaitq_t *q = tide__lua_checkself(L, 1, 2, MT_WAITQ);
  lua_settop(L, 1);
  return park(L, &q->q, 0, waitq_wait_k);
}

/* Wakes up to n (default 1) waiters with state; returns how many. */
static int waitq_wake(lua_State *L, int state) {
  lwaitq_t *q = tide__lua_checkself(L, 1, 2, MT_WAITQ);
  lua_Integer n = luaL_optinteger(L, 2, 1), woken = 0;
  tide__runtime_from(L);
  while (woken < n && tide__waitq_wake_as(&q->q, state) != NULL) woken++;
  lua_pushinteger(L, woken);
  return 1;
}

static int l_waitq_wake(lua_State *L) { return waitq_wake(L, TIDE__DONE); }
static int l_waitq_fail(lua_State *L) { return waitq_wake(L, TIDE__FAILED); }

static int l_waitq_wake_all(lua_State *L) {
  lwaitq_t *q = tide__lua_checkself(L, 1, 2, MT_WAITQ);
  lua_settop(L, 1);
  lua_pushinteger(L, q->q.n);
  return waitq_wake(L, TIDE__DONE);
}

static int l_waitq_size(lua_State *L) {
  lua_pushinteger(L, ((lwaitq_t *)tide__lua_checkself(L, 1, 2, MT_WAITQ))->q.n);
  return 1;
}

/* ------------------------------------------------------------ open */

static const luaL_Reg lock_methods[] = {
    {"acquire", l_lock_acquire}, {"try_acquire", l_lock_try_acquire},
    {"release", l_lock_release}, {"locked", l_lock_locked},
    {"statistics", l_lock_statistics}, {NULL, NULL}};

static const luaL_Reg sem_methods[] = {
    {"acquire", l_sem_acquire},     {"try_acquire", l_sem_try_acquire},
    {"release", l_sem_release},     {"available", l_sem_available},
    {"locked", l_sem_locked},       {"statistics", l_sem_statistics},
    {NULL, NULL}};

static const luaL_Reg event_methods[] = {
    {"set", l_event_set},       {"clear", l_event_clear},
    {"is_set", l_event_is_set}, {"wait", l_event_wait},
    {"statistics", l_event_statistics}, {NULL, NULL}};

static const luaL_Reg cond_methods[] = {
    {"wait", l_cond_wait},
    {"notify", l_cond_notify},
    {"notify_all", l_cond_notify_all},
    {"lock", l_cond_lock},
    {"statistics", l_cond_statistics},
    {NULL, NULL}};

static const luaL_Reg waitq_methods[] = {
    {"wait", l_waitq_wait},         {"wake", l_waitq_wake},
    {"fail", l_waitq_fail},         {"wake_all", l_waitq_wake_all},
    {"size", l_waitq_size},         {NULL, NULL}};

static const luaL_Reg funcs[] = {{"Lock", l_lock_new},
                                 {"Semaphore", l_sem_new},
                                 {"BoundedSemaphore", l_bsem_new},
                                 {"Event", l_event_new},
                                 {"Condition", l_cond_new},
                                 {"waitq", l_waitq_new},
                                 {NULL, NULL}};

/* Makes the metatable name with methods (upvalue: the runtime box at
 * top - 2 once the metatable is pushed), __gc, __tostring, and __close if
 * closefn. */
static void open_type(lua_State *L, const char *name, const luaL_Reg *methods,
                      lua_CFunction tostring, lua_CFunction closefn) {
  luaL_newmetatable(L, name);
  lua_newtable(L);
  lua_pushvalue(L, -4);
  lua_pushvalue(L, -3);
  luaL_setfuncs(L, methods, 2); /* upvalues: box, metatable */
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, waitq_gc);
  lua_setfield(L, -2, "__gc");
  if (tostring != NULL) {
    lua_pushcfunction(L, tostring);
    lua_setfield(L, -2, "__tostring");
  }
  if (closefn != NULL) {
    lua_pushvalue(L, -3);
    lua_pushvalue(L, -2);
    lua_pushcclosure(L, closefn, 2);
    lua_setfield(L, -2, "__close");
  }
  lua_pushstring(L, name);
  lua_setfield(L, -2, "__name");
  lua_pop(L, 1);
}

/* Registers the primitives into the module at the top of L; the runtime box
 * is at top - 1. The Lua facade (lua/tide/sync.lua) adds what is better in
 * Lua (with(), wait_for(), the Condition's lock methods). */
void tide__lua_open_sync(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  open_type(L, MT_LOCK, lock_methods, l_lock_tostring, l_lock_release);
  open_type(L, MT_SEM, sem_methods, l_sem_tostring, l_sem_release);
  open_type(L, MT_EVENT, event_methods, l_event_tostring, NULL);
  open_type(L, MT_COND, cond_methods, NULL, NULL);
  open_type(L, MT_WAITQ, waitq_methods, NULL, NULL);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, funcs, 1);
}
