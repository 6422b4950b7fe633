/* The tide command: runs a Lua script as the root task of a runtime, so its
 * top level can sleep and await directly.
 *
 *   tide [options] [script [args...]]
 *     -e stat   run the string stat (in the root task, before the script)
 *     -l mod    require mod (global mod = its value), in the root task
 *     -v        print version information
 *     -h, --help  print the usage
 *     --dump-on SIG  print the task tree (tide.dump()) to stderr whenever
 *               the process receives signal SIG (e.g. SIGUSR1)
 *     --workers N  run N processes of the script (N = auto: one per CPU)
 *               under a supervisor (src/supervise.c): they share the ports
 *               they listen on; SIGTERM/SIGINT stop them gracefully,
 *               SIGHUP replaces them one by one, a worker that dies is
 *               restarted
 *     --grace S  seconds a stopping worker has to drain its connections
 *               (and as much again for its cleanup); default 5
 *     --        stop handling options
 *     -         run standard input as the script
 *
 * With no script (and no -e) and a terminal on stdin it starts an
 * interactive prompt (lua/tide/repl.lua) whose lines run in tasks, so they
 * can await while the tasks they spawn run on; stdin that is not a terminal
 * runs as the script.
 *
 * The global arg is set as lua sets it. The collector runs in generational
 * mode. Exit status: 0 when the script returns, 1 after printing the error
 * and the task's traceback when it fails. The first SIGINT (Ctrl-C) or
 * SIGTERM cancels the script's task: its cleanup runs (<close> handlers may
 * await, within the grace period), then the tasks it left behind are
 * cancelled and cleaned up the same way, and the command exits with 130 or
 * 143 after one line on stderr; a second signal ends it at once. SIGTERM
 * first closes the script's servers and lets their connections finish
 * within the grace period (interrupt.c). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "tide.h"
#include "tide_supervise.h"

static const char *progname = "tide";

static void print_usage(FILE *out, const char *badopt) {
  if (badopt != NULL)
    fprintf(stderr, "%s: unrecognized option '%s'\n", progname, badopt);
  fprintf(out,
          "usage: %s [options] [script [args]]\n"
          "Available options are:\n"
          "  -e stat   execute string 'stat' (in the root task)\n"
          "  -l mod    require library 'mod' into global 'mod'\n"
          "  -v        show version information\n"
          "  -h, --help  show this help\n"
          "  --dump-on SIG  print the task tree to stderr on signal SIG\n"
          "  --workers N  run N processes of the script (auto: one per "
          "CPU),\n"
          "            sharing its ports; SIGHUP reloads them one by one\n"
          "  --grace S  seconds a stopping worker has to finish (default 5)\n"
          "  --        stop handling options\n"
          "  -         execute stdin and stop handling options\n"
          "With no script, a terminal on stdin gets an interactive prompt\n"
          "(each line runs in a task); other stdin runs as the script.\n",
          progname);
}

static void print_version(void) {
  printf("tide %s (%s, libuv %s)\n", tide_version(), LUA_RELEASE,
         uv_version_string());
}

/* `tide --workers N ...`: runs the command line without the --workers and
 * --grace options (skip: their indices) in N supervised processes. */
static int supervise(char **argv, int argc, const int *skip, int nskip,
                     int nworkers, double grace) {
  tide_supervise_opts_t o;
  char **wargv = calloc((size_t)argc + 1, sizeof(*wargv));
  int i, j, n = 0, status;
  if (wargv == NULL) return 1;
  wargv[n++] = argv[0];
  for (i = 1; i < argc; i++) {
    for (j = 0; j < nskip && skip[j] != i; j++) {
    }
    if (j < nskip) {
      i++; /* the option's value */
      continue;
    }
    wargv[n++] = argv[i];
  }
  wargv[n] = NULL;
  o.nworkers = nworkers;
  o.file = "/proc/self/exe"; /* this very program, wherever it lies */
  o.argv = wargv;
  o.grace = grace;
  o.progname = progname;
  status = tide__supervise(&o);
  free(wargv);
  return status;
}

/* The root task's body: runs the chunks in order; the last one (the
 * script) gets the script's arguments. Written in Lua so that awaits in any
 * chunk suspend the task without a C boundary in between. */
static const char driver[] =
    "local chunks, n = ...\n"
    "for i = 1, #chunks - 1 do\n"
    "  local c = chunks[i]\n"
    "  if c.lib then _G[c.lib] = require(c.lib) else c.fn() end\n"
    "end\n"
    "local last = chunks[#chunks]\n"
    "if last then return last.fn(table.unpack(chunks.args, 1, n)) end\n";

static int report(lua_State *L, int status, const char *what) {
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "%s: %s%s\n", progname, what ? what : "",
            msg ? msg : "(error object is not a string)");
    lua_pop(L, 1);
  }
  return status;
}

/* Builds the global arg table: script at 0, its arguments at 1..n, the
 * interpreter and options at negative indices. */
static void create_arg_table(lua_State *L, char **argv, int argc,
                             int script) {
  int i;
  lua_createtable(L, argc - script - 1, script + 1);
  for (i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

int main(int argc, char **argv) {
  tide_runtime_t *rt;
  lua_State *L;
  int i, script = 0, status = 0, err, nchunks = 0, nargs = 0, signum;
  int nworkers = 0, worker_opts[4], nworker_opts = 0;
  double grace = 5;

  if (argv[0] && argv[0][0]) progname = argv[0];
  signal(SIGPIPE, SIG_IGN); /* a closed socket is an error, not a death */

  /* First pass: find where the script is and check the options. */
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-' || strcmp(a, "-") == 0) {
      script = i;
      break;
    }
    if (strcmp(a, "--") == 0) {
      if (i + 1 < argc) script = i + 1;
      break;
    }
    if (strcmp(a, "-v") == 0) continue;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      print_usage(stdout, NULL);
      return 0;
    }
    if (strcmp(a, "-e") == 0 || strcmp(a, "-l") == 0 ||
        strcmp(a, "--dump-on") == 0) {
      if (++i >= argc) {
        print_usage(stderr, NULL);
        return 1;
      }
      continue;
    }
    if (strcmp(a, "--workers") == 0 || strcmp(a, "--grace") == 0) {
      char *end;
      if (++i >= argc || nworker_opts == 4) {
        print_usage(stderr, NULL);
        return 1;
      }
      if (a[2] == 'w') {
        long n = strcmp(argv[i], "auto") == 0
                     ? (long)uv_available_parallelism()
                     : strtol(argv[i], &end, 10);
        if (strcmp(argv[i], "auto") != 0 && (*end != '\0' || n < 1 || n > 1024)) {
          fprintf(stderr, "%s: --workers: 1..1024 or auto expected, got '%s'\n",
                  progname, argv[i]);
          return 1;
        }
        nworkers = (int)n;
      } else {
        grace = strtod(argv[i], &end);
        if (*end != '\0' || end == argv[i] || grace < 0 || grace > 86400) {
          fprintf(stderr, "%s: --grace: seconds (0..86400) expected, got '%s'\n",
                  progname, argv[i]);
          return 1;
        }
      }
      worker_opts[nworker_opts++] = i - 1;
      continue;
    }
    print_usage(stderr, a);
    return 1;
  }

  if (nworkers > 0 || nworker_opts > 0) {
    if (script == 0 || strcmp(argv[script], "-") == 0 || nworkers == 0 ||
        nworker_opts > 2) {
      fprintf(stderr, "%s: --workers N takes a script file (and --grace goes "
                      "with it)\n", progname);
      return 1;
    }
    return supervise(argv, argc, worker_opts, nworker_opts, nworkers, grace);
  }

  err = tide_runtime_new(&rt, NULL, NULL);
  if (err != 0) {
    fprintf(stderr, "%s: cannot start: %s\n", progname, tide_strerror(err));
    return 1;
  }
  L = tide_runtime_lua(rt);
  /* Servers make many short-lived strings (one per message read): Lua's
   * generational collector handles that garbage for about half the work of
   * the incremental one (bench/echo_tide.lua, measured with callgrind). A
   * script can switch back with collectgarbage("incremental"). */
  lua_gc(L, LUA_GCGEN, 0, 0);
  create_arg_table(L, argv, argc, script ? script : argc - 1);

  /* The chunk list for the driver. */
  if (luaL_loadstring(L, driver) != LUA_OK) return report(L, 1, NULL);
  lua_newtable(L); /* chunks */
  for (i = 1; i < argc && i != script; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) break;
    if (strcmp(a, "-v") == 0) {
      print_version();
      continue;
    }
    lua_newtable(L);
    if (strcmp(a, "--dump-on") == 0) {
      if (strspn(argv[i + 1], "ABCDEFGHIJKLMNOPQRSTUVWXYZ12") !=
          strlen(argv[i + 1])) {
        print_usage(stderr, argv[i + 1]);
        goto fail;
      }
      lua_pushfstring(L,
                      "local tide = require 'tide'\n"
                      "tide.on_signal('%s', function()\n"
                      "  io.stderr:write(tide.dump()) io.stderr:flush()\n"
                      "end)",
                      argv[i + 1]);
      if (report(L, luaL_loadstring(L, lua_tostring(L, -1)), NULL))
        goto fail;
      lua_remove(L, -2);
      lua_setfield(L, -2, "fn");
    } else if (strcmp(a, "-e") == 0) {
      if (report(L, luaL_loadbuffer(L, argv[i + 1], strlen(argv[i + 1]),
                                    "=(command line)"),
                 NULL))
        goto fail;
      lua_setfield(L, -2, "fn");
    } else { /* -l */
      lua_pushstring(L, argv[i + 1]);
      lua_setfield(L, -2, "lib");
    }
    lua_rawseti(L, -2, ++nchunks);
    i++;
  }
  if (script != 0) {
    const char *fname = strcmp(argv[script], "-") == 0 ? NULL : argv[script];
    lua_newtable(L);
    if (report(L, luaL_loadfile(L, fname), NULL)) goto fail;
    lua_setfield(L, -2, "fn");
    lua_rawseti(L, -2, ++nchunks);
    nargs = argc - script - 1;
    lua_createtable(L, nargs, 0);
    for (i = 1; i <= nargs; i++) {
      lua_pushstring(L, argv[script + i]);
      lua_rawseti(L, -2, i);
    }
    lua_setfield(L, -2, "args");
  } else if (nchunks == 0) {
    if (argc > 1) goto done; /* just -v */
    lua_newtable(L);
    if (isatty(0)) {
      /* The interactive prompt (lua/tide/repl.lua): each line runs in a
       * task; Ctrl-C cancels the line, Ctrl-D ends the prompt. */
      luaL_loadstring(L, "return require('tide.repl').run()");
    } else if (report(L, luaL_loadfile(L, NULL), NULL)) {
      goto fail;
    }
    lua_setfield(L, -2, "fn");
    lua_rawseti(L, -2, ++nchunks);
  } else {
    /* Only -e/-l chunks: a do-nothing last chunk keeps the driver simple. */
    lua_newtable(L);
    luaL_loadstring(L, "");
    lua_setfield(L, -2, "fn");
    lua_rawseti(L, -2, ++nchunks);
  }
  if (lua_getfield(L, -1, "args") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_setfield(L, -2, "args");
  } else {
    lua_pop(L, 1);
  }
  lua_pushinteger(L, nargs);

  err = tide_runtime_spawn(rt, 2);
  if (err == 0) err = tide_runtime_catch_signals(rt, -1);
  if (err == 0) err = tide_runtime_run_task(rt, -1);
  signum = tide_runtime_interrupted(rt);
  if (signum != 0 && err == TIDE_ELUA) {
    /* Interrupted: the script's cleanup has run; the leftover tasks' runs
     * in tide_runtime_close (a second signal still ends it at once). */
    fprintf(stderr, "%s: interrupted by %s\n", progname,
            signum == SIGINT ? "SIGINT" : "SIGTERM");
    status = 128 + signum;
  } else if (err == TIDE_ELUA) {
    tide_task_results(rt, -1); /* error, traceback */
    fprintf(stderr, "%s: %s\n", progname,
            lua_tostring(L, -1) ? lua_tostring(L, -1) : "(no traceback)");
    lua_pop(L, 2);
    status = 1;
  } else if (err != 0) {
    fprintf(stderr, "%s: %s\n", progname,
            err == TIDE_ESTOPPED
                ? "deadlock: the script waits for something that can never "
                  "happen (no task is ready, no timer or I/O is pending)"
                : tide_strerror(err));
    status = 1;
  }
  lua_settop(L, 0);
  goto done;

fail:
  status = 1;
done:
  if (tide_runtime_close(rt) != 0) status = 1;
  fflush(stdout);
  return status;
}
