# tide: build, test, install.
#
#   make              libraries, the Lua module build/tide/core.so, build/bin/tide
#   make test         C tests and busted specs
#   make asan         the same tests under AddressSanitizer + UBSan
#   make valgrind     the C tests, the demo, the example host and the TLS
#                     specs under valgrind
#   make fuzz-ci      tide's own fuzzers for about 30 s; make fuzz: every
#                     fuzz target, longer (docs/fuzzing.md)
#   make install PREFIX=/usr/local    (and make uninstall; the LuaLS type
#                     stubs go to $(PREFIX)/share/tide/types)
#   make deps         install the system packages (see deps/install.sh)
#
# Lua 5.4, libuv and OpenSSL 3 come from the system through pkg-config.

PREFIX     ?= /usr/local
DESTDIR    ?=
BUILD      ?= build
LUA        ?= lua5.4
PKG_CONFIG ?= pkg-config
LUA_PC     ?= lua5.4
LUA_V      ?= 5.4

CC         ?= cc
OPT        ?= -O2 -g
SAN        ?=
CFLAGS_ALL  = $(OPT) $(SAN) -std=c99 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
              -fPIC -fvisibility=hidden -Iinclude -Isrc \
              $(shell $(PKG_CONFIG) --cflags $(LUA_PC) libuv openssl) $(CFLAGS)
# libuv and OpenSSL (TLS streams) go wherever tide's objects are linked.
UV_LIBS     = $(shell $(PKG_CONFIG) --libs libuv openssl)
LUA_LIBS    = $(shell $(PKG_CONFIG) --libs $(LUA_PC))
LDFLAGS_ALL = $(SAN) $(LDFLAGS)

CORE_SRC = $(wildcard src/*.c)
LUAB_SRC = $(wildcard src/lua/*.c)
LIB_SRC  = $(filter-out src/main.c,$(CORE_SRC)) $(LUAB_SRC)
LUA_FILES = $(wildcard lua/tide/*.lua)
# The LuaLS type stubs (docs/reference.md#editor-support): types/tide.lua
# is require "tide", types/tide/repl.lua require "tide.repl".
TYPES_TOP = $(wildcard types/*.lua)
TYPES_SUB = $(wildcard types/tide/*.lua)
LIB_OBJ  = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(BUILD)/obj/embed.o
HDRS     = $(wildcard include/*.h src/*.h)

TEST_SRC = $(wildcard test/test_*.c)
TEST_BIN = $(patsubst test/%.c,$(BUILD)/test/%,$(TEST_SRC))

.PHONY: all test test-c test-lua asan valgrind helgrind clean install uninstall deps \
        test-http1 fuzz fuzz-http1 fuzz-core fuzz-ci fuzz-asan \
        examples test-install test-rock rock rock-install \
        bench bench-peers format demo

all: $(BUILD)/libtide.a $(BUILD)/libtide.so $(BUILD)/tide/core.so $(BUILD)/bin/tide \
     $(BUILD)/examples/embed_host $(BUILD)/examples/embed_poll_host

$(BUILD)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/gen/embed.c: tools/embed.lua $(LUA_FILES)
	@mkdir -p $(dir $@)
	$(LUA) tools/embed.lua $@ $(LUA_FILES)

$(BUILD)/obj/embed.o: $(BUILD)/gen/embed.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libtide.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# The shared library links libuv and Lua: a host links it with -ltide.
$(BUILD)/libtide.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libtide.so.0 -o $@ $^ $(LDFLAGS_ALL) $(UV_LIBS) $(LUA_LIBS)

# The Lua module links libuv but not liblua: the interpreter provides Lua.
$(BUILD)/tide/core.so: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared -o $@ $^ $(LDFLAGS_ALL) $(UV_LIBS)

$(BUILD)/bin/tide: $(BUILD)/obj/main.o $(BUILD)/libtide.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(BUILD)/libtide.a $(LDFLAGS_ALL) $(UV_LIBS) $(LUA_LIBS) -lm -Wl,-E

# The example host (examples/embed), built against the in-tree library;
# test/install_test.sh builds it again against an installed copy.
$(BUILD)/examples/embed_host: examples/embed/host.c $(BUILD)/libtide.a include/tide.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libtide.a $(LDFLAGS_ALL) $(UV_LIBS) $(LUA_LIBS) -lm -lpthread

# The example host whose own poll(2) loop drives tide (examples/embed_poll).
$(BUILD)/examples/embed_poll_host: examples/embed_poll/host.c $(BUILD)/libtide.a include/tide.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libtide.a $(LDFLAGS_ALL) $(UV_LIBS) $(LUA_LIBS) -lm -lpthread

examples: $(BUILD)/examples/embed_host $(BUILD)/examples/embed_poll_host

$(BUILD)/test/%: test/%.c $(BUILD)/libtide.a test/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itest -o $@ $< $(BUILD)/libtide.a $(LDFLAGS_ALL) $(UV_LIBS) $(LUA_LIBS) -lm -lpthread

# ---------------------------------------------------------------- tests

BUSTED ?= busted
# Extra environment for the spec run (the sanitizer build preloads its
# runtime into the stock lua5.4 interpreter).
SPEC_ENV ?=

# test-http1 runs last, alone: its fuzzing would starve timing-sensitive specs.
# Then make fuzz-ci (about 30 s), alone too (TEST_FUZZ= leaves it out).
TEST_FUZZ ?= 1
test: all test-c test-lua
	@$(MAKE) --no-print-directory test-http1
	$(if $(TEST_FUZZ),@$(MAKE) --no-print-directory fuzz-ci)

test-c: $(TEST_BIN) $(BUILD)/examples/embed_host $(BUILD)/examples/embed_poll_host
	@set -e; for t in $(TEST_BIN); do echo "== $$t"; $$t; done
	@echo "== $(BUILD)/examples/embed_host"; \
	  $(BUILD)/examples/embed_host examples/embed/script.lua
	@echo "== $(BUILD)/examples/embed_poll_host"; \
	  $(BUILD)/examples/embed_poll_host examples/embed_poll/script.lua

# make install into a scratch prefix, build the example host against it with
# pkg-config, run it, run the installed Lua module, make uninstall.
test-install: all
	BUILD=$(BUILD) CC=$(CC) PKG_CONFIG=$(PKG_CONFIG) LUA=$(LUA) sh test/install_test.sh

# luarocks make from this checkout into a scratch tree, offline.
test-rock:
	LUA=$(LUA) sh test/rock_test.sh

# The pseudo-terminal the REPL's spec types into (spec/repl_spec.lua).
$(BUILD)/test/pty_run: test/pty_run.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LDFLAGS_ALL) -lutil

test-lua: all $(BUILD)/test/pty_run
	TIDE_BUILD=$(BUILD) $(SPEC_ENV) $(BUSTED) --lua=$(LUA) spec

ASAN_RT = $(shell $(CC) -print-file-name=libasan.so)
UBSAN_RT = $(shell $(CC) -print-file-name=libubsan.so)
# The sanitizer build, and the environment that runs the stock lua5.4 on it.
ASAN_MAKE = $(MAKE) BUILD=build-asan OPT='-O1 -g -fno-omit-frame-pointer' \
	  SAN='-fsanitize=address,undefined -fno-sanitize-recover=undefined'
ASAN_ENV = LD_PRELOAD="$(ASAN_RT) $(UBSAN_RT)" ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
asan:
	$(ASAN_MAKE) SPEC_ENV='$(ASAN_ENV)' test

# ---------------------------------------------------------------- http1 parser
# Differential tests of src/http1.c against llhttp 8.1.0, built here from
# Debian's node-llhttp sources (for these tests only: tide never links it),
# and against python3-h11 (test/http1/h11_diff.py reads the cases diff.c
# writes), then a short libFuzzer run (clang). make test runs HTTP1_CASES
# cases; make fuzz many more and a longer fuzzing run.
LLHTTP_SRC  ?= /usr/share/llhttp
LLHTTP_INC  ?= /usr/share/include/llhttp
PYTHON3     ?= /usr/bin/python3
FUZZ_CC     ?= clang
HTTP1_CASES ?= 100000
HTTP1_FUZZ_SECONDS ?= 5
HTTP1_FUZZ_LONG ?= 300
HTTP1_DIFF = $(BUILD)/test/http1_diff
HTTP1_FUZZ = $(BUILD)/test/http1_fuzz
LLHTTP_OBJ = $(patsubst %,$(BUILD)/llhttp/%.o,llhttp api http)

$(BUILD)/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(SAN) -w -DLLHTTP_STRICT_MODE=1 -I$(LLHTTP_INC) -c $< -o $@

$(HTTP1_DIFF): test/http1/diff.c src/http1.c src/tide_http1.h $(LLHTTP_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(OPT) $(SAN) -std=c99 -D_GNU_SOURCE -Wall -Wextra -Isrc -I$(LLHTTP_INC) \
	  -o $@ test/http1/diff.c src/http1.c $(LLHTTP_OBJ) $(LDFLAGS_ALL)

$(HTTP1_FUZZ): test/http1/fuzz_http1.c src/http1.c src/tide_http1.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -Isrc -o $@ test/http1/fuzz_http1.c src/http1.c

test-http1: $(HTTP1_DIFF) $(HTTP1_FUZZ)
	$(HTTP1_DIFF) --cases $(HTTP1_CASES) --seed 1 --out $(BUILD)/test/http1_cases.txt
	$(PYTHON3) test/http1/h11_diff.py $(BUILD)/test/http1_cases.txt
	@rm -f $(BUILD)/test/http1_cases.txt
	@mkdir -p $(BUILD)/test/http1_corpus
	@$(HTTP1_FUZZ) -max_total_time=$(HTTP1_FUZZ_SECONDS) -artifact_prefix=$(BUILD)/test/ \
	  $(BUILD)/test/http1_corpus test/http1/corpus >$(BUILD)/test/http1_fuzz.log 2>&1 || \
	  { tail -n 40 $(BUILD)/test/http1_fuzz.log; echo "http1_fuzz: 0 passed, 1 failed"; exit 1; }
	@grep '^Done' $(BUILD)/test/http1_fuzz.log; echo "http1_fuzz: 1 passed, 0 failed"

# make fuzz: every fuzz target (others may add theirs as fuzz: fuzz-x).
fuzz: fuzz-http1 fuzz-core

fuzz-http1: $(HTTP1_DIFF) $(HTTP1_FUZZ)
	@set -e; for seed in 2 3 4 5 6; do \
	  $(HTTP1_DIFF) --cases 1000000 --seed $$seed --out $(BUILD)/test/http1_cases.txt; \
	  $(PYTHON3) test/http1/h11_diff.py $(BUILD)/test/http1_cases.txt; done
	@rm -f $(BUILD)/test/http1_cases.txt
	@mkdir -p $(BUILD)/test/http1_corpus
	$(HTTP1_FUZZ) -max_total_time=$(HTTP1_FUZZ_LONG) -artifact_prefix=$(BUILD)/test/ \
	  $(BUILD)/test/http1_corpus test/http1/corpus

valgrind: all $(TEST_BIN)
	@set -e; for t in $(TEST_BIN); do echo "== valgrind $$t"; \
	  valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite $$t; done
	TIDE_BUILD=$(BUILD) valgrind -q --error-exitcode=99 --leak-check=full \
	  --errors-for-leak-kinds=definite $(BUILD)/bin/tide examples/demo.lua >/dev/null
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	  $(BUILD)/examples/embed_host examples/embed/script.lua >/dev/null
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	  $(BUILD)/examples/embed_poll_host examples/embed_poll/script.lua >/dev/null
	TIDE_BUILD=$(BUILD) valgrind -q --error-exitcode=99 --leak-check=full \
	  --errors-for-leak-kinds=definite $(LUA) $$(command -v $(BUSTED)) --ignore-lua \
	  spec/tls_spec.lua spec/tls_openssl_spec.lua

# The tests that use threads, under helgrind (data races, lock order).
# test_work: worker pools share queues, flags and jobs between threads
# through the pool's mutex (the pool from C, and tide.offload from Lua).
HELGRIND = valgrind -q --tool=helgrind --error-exitcode=99
helgrind: all $(TEST_BIN)
	$(HELGRIND) $(BUILD)/test/test_post
	$(HELGRIND) $(BUILD)/test/test_work
	$(HELGRIND) $(BUILD)/examples/embed_host examples/embed/script.lua >/dev/null
	$(HELGRIND) $(BUILD)/examples/embed_poll_host examples/embed_poll/script.lua >/dev/null

# ---------------------------------------------------------------- fuzzing
# test/fuzz/ and docs/fuzzing.md: the API fuzzer (random programs over the
# whole Lua API) and the reader fuzzer (stream reads against a model) run
# in many child processes for a budget of seconds (test/fuzz/run.lua); the
# libFuzzer target $(BUILD)/fuzz/fuzz_stream (Debian's clang) runs over the
# read buffer of src/stream.c.
#   make fuzz-ci      about 30 s in all: make test ends with it (and make
#                     asan, on the sanitizer build)
#   make fuzz-core    FUZZ_SECONDS (600) in all, split 50/30/20 (part of
#                     make fuzz)
#   make fuzz-asan    the two Lua fuzzers on build-asan, FUZZ_SECONDS
# Knobs: FUZZ_SEED= (first seed), FUZZ_AVOID=f1,f2 (features that reach
# known bugs, test/fuzz/gen_api.lua), FUZZ_JOBS=1, FUZZ_MINIMIZE=1,
# FUZZ_STREAM_CFLAGS= (extra clang flags for fuzz_stream).
FUZZ_SECONDS ?= 600
FUZZ_JOBS ?= 1
FUZZ_OPTS = --jobs $(FUZZ_JOBS) $(if $(FUZZ_SEED),--seed $(FUZZ_SEED)) \
	    $(if $(FUZZ_AVOID),--avoid $(FUZZ_AVOID)) $(if $(FUZZ_MINIMIZE),--minimize)
# The Lua fuzzers' children run lua5.4 as the specs do (SPEC_ENV: under
# make asan, with the sanitizer preloaded).
FUZZ_LUA = env $(SPEC_ENV) TIDE_BUILD=$(BUILD) $(LUA) test/fuzz/run.lua
FUZZ_CORPUS = $(BUILD)/fuzz/corpus
FUZZ_SRC = src/future.c src/loop.c src/timer.c src/error.c

# The libFuzzer target compiles src/stream.c into itself (test/fuzz/fuzz_stream.c
# includes it) to reach its static buffer functions; no test seam in src/.
$(BUILD)/fuzz/fuzz_stream: test/fuzz/fuzz_stream.c src/stream.c $(FUZZ_SRC) $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  $(FUZZ_STREAM_CFLAGS) -std=c99 -D_GNU_SOURCE -Iinclude -Isrc $(shell $(PKG_CONFIG) --cflags $(LUA_PC) libuv) \
	  -o $@ test/fuzz/fuzz_stream.c $(FUZZ_SRC) $(UV_LIBS)

# Runs the libFuzzer target for $(1) seconds over its corpus (new inputs
# go to the first directory; test/fuzz/corpus/stream holds the inputs of
# the bugs it found, run first).
fuzz_stream_run = mkdir -p $(FUZZ_CORPUS) && \
	$(BUILD)/fuzz/fuzz_stream -max_total_time=$(1) -print_final_stats=1 \
	  -malloc_limit_mb=512 -artifact_prefix=$(BUILD)/fuzz/ $(FUZZ_CORPUS) \
	  test/fuzz/corpus/stream

fuzz-ci: all $(BUILD)/fuzz/fuzz_stream
	@status=0; \
	$(FUZZ_LUA) api --seconds 15 $(FUZZ_OPTS) || status=1; \
	$(FUZZ_LUA) reader --seconds 10 $(FUZZ_OPTS) || status=1; \
	$(call fuzz_stream_run,5) || status=1; \
	exit $$status

fuzz-core: all $(BUILD)/fuzz/fuzz_stream
	@status=0; \
	$(FUZZ_LUA) api --seconds $$(($(FUZZ_SECONDS) / 2)) $(FUZZ_OPTS) || status=1; \
	$(FUZZ_LUA) reader --seconds $$(($(FUZZ_SECONDS) * 3 / 10)) $(FUZZ_OPTS) || status=1; \
	$(call fuzz_stream_run,$$(($(FUZZ_SECONDS) / 5))) || status=1; \
	exit $$status

fuzz-asan:
	$(ASAN_MAKE) all
	@status=0; \
	env $(ASAN_ENV) TIDE_BUILD=build-asan $(LUA) test/fuzz/run.lua api \
	  --seconds $$(($(FUZZ_SECONDS) * 2 / 3)) --out build-asan/fuzz-out/api $(FUZZ_OPTS) || status=1; \
	env $(ASAN_ENV) TIDE_BUILD=build-asan $(LUA) test/fuzz/run.lua reader \
	  --seconds $$(($(FUZZ_SECONDS) / 3)) --out build-asan/fuzz-out/reader $(FUZZ_OPTS) || status=1; \
	exit $$status

demo: all
	$(BUILD)/bin/tide examples/demo.lua

deps:
	sh deps/install.sh

# ---------------------------------------------------------------- install

LIBDIR  = $(PREFIX)/lib
INCDIR  = $(PREFIX)/include
BINDIR  = $(PREFIX)/bin
LMODDIR = $(PREFIX)/share/lua/$(LUA_V)
CMODDIR = $(PREFIX)/lib/lua/$(LUA_V)
PCDIR   = $(LIBDIR)/pkgconfig
SHAREDIR = $(PREFIX)/share/tide
TYPESDIR = $(SHAREDIR)/types

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(BINDIR) \
	  $(DESTDIR)$(LMODDIR)/tide $(DESTDIR)$(CMODDIR)/tide $(DESTDIR)$(PCDIR) \
	  $(DESTDIR)$(TYPESDIR)/tide
	install -m 644 $(BUILD)/libtide.a $(DESTDIR)$(LIBDIR)/libtide.a
	install -m 755 $(BUILD)/libtide.so $(DESTDIR)$(LIBDIR)/libtide.so.0
	ln -sf libtide.so.0 $(DESTDIR)$(LIBDIR)/libtide.so
	install -m 644 include/tide.h $(DESTDIR)$(INCDIR)/tide.h
	install -m 755 $(BUILD)/bin/tide $(DESTDIR)$(BINDIR)/tide
	install -m 755 $(BUILD)/tide/core.so $(DESTDIR)$(CMODDIR)/tide/core.so
	install -m 644 $(LUA_FILES) $(DESTDIR)$(LMODDIR)/tide/
	install -m 644 $(TYPES_TOP) $(DESTDIR)$(TYPESDIR)/
	install -m 644 $(TYPES_SUB) $(DESTDIR)$(TYPESDIR)/tide/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|0.1.0|' \
	  -e 's|@LUA_PC@|$(LUA_PC)|' tide.pc.in > $(DESTDIR)$(PCDIR)/tide.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libtide.a $(DESTDIR)$(LIBDIR)/libtide.so \
	  $(DESTDIR)$(LIBDIR)/libtide.so.0 $(DESTDIR)$(INCDIR)/tide.h \
	  $(DESTDIR)$(BINDIR)/tide $(DESTDIR)$(CMODDIR)/tide/core.so \
	  $(DESTDIR)$(PCDIR)/tide.pc
	rm -f $(addprefix $(DESTDIR)$(LMODDIR)/tide/,$(notdir $(LUA_FILES)))
	rm -f $(addprefix $(DESTDIR)$(TYPESDIR)/,$(notdir $(TYPES_TOP))) \
	  $(addprefix $(DESTDIR)$(TYPESDIR)/tide/,$(notdir $(TYPES_SUB)))
	-rmdir $(DESTDIR)$(LMODDIR)/tide $(DESTDIR)$(CMODDIR)/tide \
	  $(DESTDIR)$(TYPESDIR)/tide $(DESTDIR)$(TYPESDIR) $(DESTDIR)$(SHAREDIR) 2>/dev/null

# ---------------------------------------------------------------- luarocks
# The rockspec's build (type "make"): tide/core.so with the compiler and
# linker flags luarocks hands over (its LUA_INCDIR and the external
# dependency LIBUV) instead of pkg-config's, then the module files into the
# rock's directories, and the LuaLS stubs into the rock's own directory
# (ROCK_TYPESDIR: $(PREFIX)/types, luarocks show --rock-dir tide).
ROCK_BUILD ?= build-rock
rock:
	$(MAKE) BUILD=$(ROCK_BUILD) PKG_CONFIG=true LUA='$(LUA)' \
	  CFLAGS='$(ROCK_CFLAGS)' LDFLAGS='$(ROCK_LDFLAGS)' $(ROCK_BUILD)/tide/core.so

rock-install:
	install -d $(ROCK_LIBDIR)/tide $(ROCK_LUADIR)/tide
	install -m 755 $(ROCK_BUILD)/tide/core.so $(ROCK_LIBDIR)/tide/core.so
	install -m 644 $(LUA_FILES) $(ROCK_LUADIR)/tide/
	install -d $(ROCK_TYPESDIR)/tide
	install -m 644 $(TYPES_TOP) $(ROCK_TYPESDIR)/
	install -m 644 $(TYPES_SUB) $(ROCK_TYPESDIR)/tide/

format:
	clang-format -i $(CORE_SRC) $(LUAB_SRC) $(wildcard include/*.h src/*.h test/*.c test/*.h)

clean:
	rm -rf build build-asan

# ---------------------------------------------------------------- benchmarks
# bench/run.sh: `make bench` runs tide against the plain libuv C floor
# (results in bench/results/tide-only/); `make bench-peers` installs the
# peers from Debian (deps/bench-peers.sh) and runs every runtime, writing
# bench/results/latest.md, one table per workload and chart.svg.
# Knobs: ROUNDS=3 SECONDS_MEASURED=3 SPAWN_N= PINGPONG_N= SLEEPERS_N= FANOUT_N=
# PIPELINE_N= CANCEL_N=, e.g.
#   make bench-peers ROUNDS=3
bench: all
	OUT=bench/results/tide-only BENCH_CMD="make bench" TIDE_BUILD=$${TIDE_BUILD:-$(CURDIR)/$(BUILD)} bench/run.sh

bench-peers: all
	sh deps/bench-peers.sh
	BENCH_CMD="make bench-peers$(if $(ROUNDS), ROUNDS=$(ROUNDS))" TIDE_BUILD=$${TIDE_BUILD:-$(CURDIR)/$(BUILD)} bench/run.sh --peers
