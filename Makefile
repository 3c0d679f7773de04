# sockit -- build, test, run.  `make run` and `make test` do all the set-up.
#
#   make                 build build/sockit and build/libsockit.a
#   make test            unit tests (cmocka) and end-to-end tests (pytest)
#   make test SANITIZE=1 the same under AddressSanitizer + UBSan
#   make test-valgrind   the same under valgrind memcheck, zero leaks (long)
#   make fuzz            libFuzzer harnesses, FUZZ_TIME s each (fuzz/README.md)
#   make run             the chat server on 127.0.0.1:8000 (RUN_ADDR=...)
#   make bench           the side-by-side suite (BENCH_ARGS=--quick: short)
#   make install PREFIX=/usr/local

PREFIX   ?= /usr/local
CC       ?= cc
PYTHON   ?= /usr/bin/python3
SANITIZE ?=

ifeq ($(SANITIZE),1)
BUILD    ?= build-san
OPT      ?= -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD    ?= build
OPT      ?= -O2
endif

UV_CFLAGS := $(shell pkg-config --cflags libuv 2>/dev/null)
UV_LIBS   := $(shell pkg-config --libs libuv 2>/dev/null || echo -luv)
SSL_CFLAGS := $(shell pkg-config --cflags openssl 2>/dev/null)
SSL_LIBS  := $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)

CFLAGS   ?= -g
CFLAGS   += -std=c11 -D_GNU_SOURCE $(OPT) -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Iinclude -Isrc $(UV_CFLAGS) $(SSL_CFLAGS)
LDFLAGS  += $(OPT)
LDLIBS   += $(UV_LIBS) $(SSL_LIBS)

LIB_SRC  := $(wildcard src/*.c src/*/*.c)
CLI_SRC  := $(wildcard cli/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

all: $(BUILD)/sockit $(BUILD)/libsockit.a

# Installs missing Debian packages once (see scripts/deps.sh).
$(BUILD)/.deps: scripts/deps.sh
	@sh scripts/deps.sh
	@mkdir -p $(BUILD) && touch $@

$(BUILD)/obj/%.o: %.c include/sockit.h $(wildcard src/*.h src/*/*.h cli/*.h) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libsockit.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/sockit: $(CLI_OBJ) $(BUILD)/libsockit.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libsockit.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(BUILD)/libsockit.a | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsockit.a $(LDLIBS) -lcmocka

# The histogram is the load generator's own, not the library's.
$(BUILD)/tests/test_hist: tests/unit/test_hist.c cli/hist.c cli/hist.h | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Icli $(LDFLAGS) -o $@ tests/unit/test_hist.c cli/hist.c -lcmocka

# The independent load client of tests/e2e/test_nothing_lost.py: plain
# POSIX, no libsockit, and no sanitizers (it measures the server).
$(BUILD)/tests/flood: tests/tools/flood.c | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) -g -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
	  -Wstrict-prototypes -Wmissing-prototypes -o $@ $<

test: unit e2e

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; timeout 120 $$t; done

e2e: $(BUILD)/sockit $(BUILD)/tests/flood
	SOCKIT=$(abspath $(BUILD)/sockit) FLOOD=$(abspath $(BUILD)/tests/flood) $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e

# The "join with" line comes once the server listens (scripts/run.sh).
RUN_ADDR ?= 127.0.0.1:8000
run: $(BUILD)/sockit
	@sh scripts/run.sh $(BUILD)/sockit $(RUN_ADDR)

# The side-by-side benchmark suite (long; see bench/README.md).
bench: $(BUILD)/sockit
	bench/run $(BENCH_ARGS)

install: $(BUILD)/sockit $(BUILD)/libsockit.a
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BUILD)/sockit $(DESTDIR)$(PREFIX)/bin/sockit
	install -m 644 $(BUILD)/libsockit.a $(DESTDIR)$(PREFIX)/lib/libsockit.a
	install -m 644 include/sockit.h $(DESTDIR)$(PREFIX)/include/sockit.h
	install -m 644 docs/sockit.1 $(DESTDIR)$(PREFIX)/share/man/man1/sockit.1
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(shell sed -n 's/^#define SK_VERSION "\(.*\)"/\1/p' include/sockit.h)|g' \
	  sockit.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/sockit.pc

lint:
	@sh scripts/deps.sh lint
	clang-format --dry-run --Werror include/*.h src/*.[ch] src/*/*.[ch] cli/*.[ch] tests/unit/*.[ch] tests/tools/*.c fuzz/*.[ch]
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --suppress=missingIncludeSystem -Iinclude -Isrc src cli

clean:
	rm -rf build build-san build-vg

.PHONY: all test unit e2e run bench install lint clean

# --------------------------------------------------------------- valgrind
# `make test-valgrind` builds without sanitizers into build-vg/ (-O1 -g,
# the same warnings) and runs the unit tests, then the end-to-end suite,
# under memcheck.  A unit test fails on any error or definite, indirect or
# possible leak (exit 99).  In the end-to-end suite helpers.py starts every
# sockit process under SOCKIT_WRAPPER with one log per process in
# build-vg/vg-logs/, and conftest.py fails the test whose process logged
# errors or such leaks ("still reachable" is not a leak).  There, leaks are
# read from the LEAK SUMMARY and not counted as errors: ERROR SUMMARY then
# counts memory errors alone, the only thing that counts for a process a
# signal ended (it had no chance to free).  About 12 minutes on 2 cores.
VG_BUILD := build-vg
VALGRIND := valgrind --tool=memcheck --leak-check=full --num-callers=30 --track-fds=no \
            --show-leak-kinds=definite,indirect,possible

test-valgrind:
	@sh scripts/deps.sh valgrind
	@$(MAKE) --no-print-directory BUILD=$(VG_BUILD) OPT=-O1 SANITIZE= valgrind-unit valgrind-e2e

valgrind-unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== valgrind $$t"; \
	  timeout 600 $(VALGRIND) -q --errors-for-leak-kinds=definite,indirect,possible \
	    --error-exitcode=99 $$t; done

valgrind-e2e: $(BUILD)/sockit $(BUILD)/tests/flood
	rm -rf $(BUILD)/vg-logs && mkdir -p $(BUILD)/vg-logs
	SOCKIT=$(abspath $(BUILD)/sockit) FLOOD=$(abspath $(BUILD)/tests/flood) \
	  SOCKIT_WRAPPER="$(VALGRIND) --errors-for-leak-kinds=none --log-file=$(abspath $(BUILD))/vg-logs/vg.%p.log" \
	  $(PYTHON) -m pytest -q -rs -p no:cacheprovider tests/e2e

.PHONY: test-valgrind valgrind-unit valgrind-e2e

# ------------------------------------------------------------------- fuzz
# libFuzzer harnesses for the codec, the address parser, the chat command
# parser and the network parser (fuzz/README.md), built with clang under
# ASan + UBSan into build-fuzz/.  `make fuzz` runs each for FUZZ_TIME
# seconds and fails on any crash, naming the input; `make fuzz-merge` adds
# what the scratch corpus in build-fuzz/ found to the committed seeds,
# minimised.
FUZZ_TIME    ?= 60
FUZZ_CC      ?= clang
FUZZ_BUILD   := build-fuzz
FUZZ_TARGETS := decoder addr chat netmask
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer -std=c11 -D_GNU_SOURCE -Wall \
                -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
                -Iinclude -Isrc $(UV_CFLAGS) $(SSL_CFLAGS)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BIN     := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
# The decoder harness sees every allocation the decoder makes.
FUZZ_LINK_decoder := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

$(FUZZ_BUILD)/.deps: scripts/deps.sh
	@sh scripts/deps.sh fuzz
	@mkdir -p $(FUZZ_BUILD) && touch $@

$(FUZZ_BUILD)/obj/%.o: %.c include/sockit.h $(wildcard src/*.h src/*/*.h) | $(FUZZ_BUILD)/.deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c $< -o $@

$(FUZZ_BUILD)/libsockit.a: $(FUZZ_LIB_OBJ)
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/snprintf_check.h $(FUZZ_BUILD)/libsockit.a include/sockit.h src/services/services.h
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) $(FUZZ_LINK_$*) \
	  -o $@ $< $(FUZZ_BUILD)/libsockit.a $(UV_LIBS) $(SSL_LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: $(FUZZ_BIN)
	FUZZ_TIME=$(FUZZ_TIME) sh fuzz/run.sh run $(FUZZ_TARGETS)

fuzz-merge: $(FUZZ_BIN)
	sh fuzz/run.sh merge $(FUZZ_TARGETS)

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

.PHONY: fuzz fuzz-build fuzz-merge fuzz-clean
