# tfstatefs build. `make` builds build/tfstatefs; `make check` runs every test.
CC      ?= cc
PKGS    := fuse3 libcurl libxml-2.0 json-c openssl
CFLAGS  ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -I. $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
override LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
BUILD   ?= build
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

LIB_SRC  := $(wildcard util/*.c) $(wildcard store/*.c) $(wildcard s3/*.c) $(wildcard fs/*.c)
MAIN_SRC := $(wildcard mount/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
MAIN_OBJ := $(MAIN_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all unit check clean deps asan tsan fuzz demo demo-stop bench install uninstall
all: $(BUILD)/tfstatefs

$(BUILD)/tfstatefs: $(MAIN_OBJ) $(BUILD)/libtfstatefs.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libtfstatefs.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DTFSTATEFS_VERSION='"$(VERSION)"' -MMD -MP -c -o $@ $<

# Unit tests link the in-memory store (tests/unit/memstore.c) that stands in for S3 and
# DynamoDB below the layers they test.
$(BUILD)/tests/memstore.o: tests/unit/memstore.c tests/unit/memstore.h store/store.h store/table.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c tests/unit/check.h tests/unit/guardfx.h $(BUILD)/tests/memstore.o $(BUILD)/libtfstatefs.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DTESTDATA='"$(CURDIR)/tests/data"' -o $@ $< $(BUILD)/tests/memstore.o \
		$(BUILD)/libtfstatefs.a $(LDLIBS)

# Unit tests: each binary prints its own tally; the runner prints the total.
unit: $(UNIT_BIN)
	tests/run-unit.sh $(UNIT_BIN)

# Same code under AddressSanitizer + UndefinedBehaviorSanitizer, in its own tree.
asan:
	$(MAKE) BUILD=build/asan CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" all $(patsubst build/%,build/asan/%,$(UNIT_BIN))

# Same code under ThreadSanitizer (gcc's libtsan), in its own tree; tests/check.sh runs the
# race tests against it. Its binary may need `setarch -R` to start: see tests/check.sh.
tsan:
	$(MAKE) BUILD=build/tsan CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=thread" all

check:
	tests/check.sh

# libFuzzer (clang): each tests/fuzz/fuzz_NAME.c runs FUZZ_SECONDS from its seed corpus
# tests/fuzz/corpus/NAME (new inputs go to a scratch copy, not into the repo).
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
fuzz:
	$(MAKE) CC=clang BUILD=build/fuzz CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined" build/fuzz/libtfstatefs.a
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_SRC)

# tfstatefs against s3fs and the ListObjectsV2 floor (tests/bench/bench.py says what).
bench:
	tests/bench/run.sh

# The in-memory filesystem make bench walks for the FUSE floor (tests/bench/nullfs.c).
# It asks the kernel for what tfstatefs asks (fs/fs.h: tfs_kernel_settings).
$(BUILD)/nullfs: tests/bench/nullfs.c fs/fs.h $(BUILD)/libtfstatefs.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libtfstatefs.a $(LDLIBS)

deps:
	tests/stack/deps.sh

clean:
	rm -rf $(BUILD)

# `make install [PREFIX=/usr/local] [DESTDIR=]`: the program, its man page, and the
# mount(8) helper mount.tfstatefs (also as mount.fuse.tfstatefs) in SBINDIR, the only
# place mount(8) looks for helpers. mount(8) runs helpers without PATH; the helper sets
# one that starts with BINDIR, then mount.fuse3 drops the options only mount(8) needs
# and runs `tfstatefs SOURCE DIR -o OPTIONS`. So `mount -t tfstatefs`, `-t fuse.tfstatefs`
# and fstab lines of either type work wherever PREFIX is.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
SBINDIR ?= /sbin
INSTALLED := $(BINDIR)/tfstatefs $(MANDIR)/man1/tfstatefs.1 $(SBINDIR)/mount.tfstatefs \
             $(SBINDIR)/mount.fuse.tfstatefs

install: $(BUILD)/tfstatefs
	install -d '$(DESTDIR)$(BINDIR)' '$(DESTDIR)$(MANDIR)/man1' '$(DESTDIR)$(SBINDIR)'
	install -m 0755 $(BUILD)/tfstatefs '$(DESTDIR)$(BINDIR)/tfstatefs'
	install -m 0644 man/tfstatefs.1 '$(DESTDIR)$(MANDIR)/man1/tfstatefs.1'
	rm -f '$(DESTDIR)$(SBINDIR)/mount.tfstatefs'
	printf '%s\n' '#!/bin/sh' \
	    '# mount(8) helper for the types tfstatefs and fuse.tfstatefs (see tfstatefs(1)).' \
	    '# mount(8) runs it without PATH; mount.fuse3 runs tfstatefs, found in this one.' \
	    "PATH='$(BINDIR)':/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
	    'export PATH' 'exec mount.fuse3 "$$@" -t fuse.tfstatefs' \
	    > '$(DESTDIR)$(SBINDIR)/mount.tfstatefs'
	chmod 0755 '$(DESTDIR)$(SBINDIR)/mount.tfstatefs'
	ln -sf mount.tfstatefs '$(DESTDIR)$(SBINDIR)/mount.fuse.tfstatefs'

uninstall:
	rm -f $(foreach f,$(INSTALLED),'$(DESTDIR)$(f)')

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d)

# The README's first command: a local stack with example states, mounted.
demo:
	examples/demo.sh start

demo-stop:
	examples/demo.sh stop
