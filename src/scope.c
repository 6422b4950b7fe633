/* Cancel scopes: the regions of a task's code that can be cancelled as a
 * whole. No Lua here.
 *
 * Lua's pcall catches every error, cancellation included, so a one-shot
 * cancellation (asyncio's) is lost to any library that retries or logs and
 * goes on. tide's scopes are level-triggered instead (Trio's rule): once a
 * scope is cancelled it stays cancelled until its code leaves it, and every
 * await inside it fails at once, however often the error is caught. A
 * shielded scope stops cancellations from outside it.
 *
 * A task keeps its scopes in a stack (a list, outermost first); the task
 * itself is the outermost scope, cancelled by task:cancel(). The awaits ask
 * tide__cstack_cancelled, which is one load on the fast path (nothing is
 * cancelled); the owner it names is the scope whose exit turns the
 * cancellation into its outcome (a timeout error, a moved-on result, a
 * group's end). */
#include "tide_int.h"

void tide__cstack_init(tide__cstack_t *cs) {
  tide__link_init(&cs->scopes);
  cs->ncancelled = 0;
  cs->root_cancelled = 0;
}

/* Does a shield stand between the link l (exclusive) and the innermost
 * point? */
static int cstack_shielded_after(const tide__cstack_t *cs,
                                 const tide__link_t *l) {
  for (l = l->next; l != &cs->scopes; l = l->next)
    if (TIDE__CONTAINER_OF(l, tide__scope_t, link)->shield) return 1;
  return 0;
}

int tide__cstack_cancel_root(tide__cstack_t *cs,
                             void (*interrupt)(tide__cstack_t *cs)) {
  if (cs->root_cancelled) return 0;
  cs->root_cancelled = 1;
  cs->ncancelled++;
  if (!cstack_shielded_after(cs, &cs->scopes)) interrupt(cs);
  return 1;
}

int tide__cstack_cancelled(const tide__cstack_t *cs, tide__scope_t **owner) {
  const tide__link_t *l;
  tide__scope_t *found = NULL;
  if (cs->ncancelled == 0) return 0;
  for (l = cs->scopes.prev; l != &cs->scopes; l = l->prev) {
    tide__scope_t *s = TIDE__CONTAINER_OF(l, tide__scope_t, link);
    if (s->cancelled) found = s;
    if (s->shield) {
      *owner = found;
      return found != NULL;
    }
  }
  if (cs->root_cancelled) found = NULL; /* the task itself, outermost */
  else if (found == NULL) return 0;
  *owner = found;
  return 1;
}

int tide__cstack_cancel_cleanup(tide__cstack_t *cs) {
  tide__link_t *l = cs->scopes.next;
  int n = 0;
  while (l != &cs->scopes) {
    tide__scope_t *s = TIDE__CONTAINER_OF(l, tide__scope_t, link);
    l = l->next; /* cancelling never closes a scope */
    if (s->cleanup) n += tide__scope_cancel(s);
  }
  return n;
}

void tide__cstack_clear(tide__cstack_t *cs) {
  while (!tide__link_empty(&cs->scopes))
    tide__scope_close(TIDE__CONTAINER_OF(cs->scopes.next, tide__scope_t,
                                         link));
}

uint64_t tide__cstack_deadline(const tide__cstack_t *cs) {
  const tide__link_t *l;
  uint64_t due = UINT64_MAX;
  for (l = cs->scopes.prev; l != &cs->scopes; l = l->prev) {
    tide__scope_t *s = TIDE__CONTAINER_OF(l, tide__scope_t, link);
    if (s->due < due) due = s->due;
    if (s->shield) break;
  }
  return due;
}

static void scope_on_timer(tide__timer_t *timer) {
  tide__scope_cancel(TIDE__CONTAINER_OF(timer, tide__scope_t, timer));
}

void tide__scope_init(tide__scope_t *s, const char *reason, int shield) {
  tide__link_init(&s->link);
  s->cs = NULL;
  s->id = 0;
  s->reason = reason;
  s->due = UINT64_MAX;
  tide__timer_init(&s->timer, scope_on_timer);
  s->cancelled = 0;
  s->shield = shield != 0;
  s->cleanup = 0;
  s->loop = NULL;
  s->interrupt = NULL;
}

void tide__scope_open(tide__cstack_t *cs, tide__scope_t *s, tide_loop_t *loop,
                      void (*interrupt)(tide__cstack_t *cs)) {
  s->cs = cs;
  s->loop = loop;
  s->interrupt = interrupt;
  s->id = ++loop->scope_seq;
  tide__link_insert_tail(&cs->scopes, &s->link);
  if (s->cancelled) cs->ncancelled++;
}

int tide__scope_cancel(tide__scope_t *s) {
  tide__cstack_t *cs = s->cs;
  if (s->cancelled) return 0;
  s->cancelled = 1;
  if (cs == NULL) return 1; /* closed, or not opened yet */
  cs->ncancelled++;
  if (!cstack_shielded_after(cs, &s->link)) s->interrupt(cs);
  return 1;
}

int tide__scope_set_deadline(tide__scope_t *s, uint64_t due) {
  tide_loop_t *loop = s->loop;
  tide__timer_stop(loop, &s->timer);
  s->due = due;
  if (due == UINT64_MAX || s->cancelled) return 0;
  return tide__timer_start(loop, &s->timer, due);
}

void tide__scope_close(tide__scope_t *s) {
  if (s->cs == NULL) return;
  tide__timer_stop(s->loop, &s->timer);
  if (s->cancelled) s->cs->ncancelled--;
  tide__link_remove(&s->link);
  s->cs = NULL;
}
