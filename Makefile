# canfs: plain Makefile.  `make` builds, `make test` runs every test and ends
# with "N passed, M failed", `make deb` builds the Debian package.  SANITIZE=address,undefined builds into its own
# directory; WERROR=1 turns warnings into errors (CI sets it).

PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man

CC ?= cc
PKGS := libevent fuse3 libxxhash lmdb libsodium
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wformat=2 -Wno-format-nonliteral
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 $(WARN) -D_GNU_SOURCE -Icommon \
	$(shell pkg-config --cflags libevent fuse3 libsodium 2>/dev/null)
ifeq ($(WERROR),1)
CFLAGS += -Werror
endif

ifneq ($(SANITIZE),)
BUILD ?= build-san
CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
else
BUILD ?= build
endif

LIBEVENT := $(shell pkg-config --libs libevent 2>/dev/null || echo -levent)
FUSE := $(shell pkg-config --libs fuse3 2>/dev/null || echo -lfuse3)
LMDB := -llmdb
SODIUM := $(shell pkg-config --libs libsodium 2>/dev/null || echo -lsodium)
CMOCKA := -lcmocka

COMMON_SRC := $(wildcard common/*.c)
CANCTL_SRC := overlay/canctl.c overlay/canctl_obj.c overlay/canctl_batch.c \
	overlay/canctl_cluster.c overlay/canctl_health.c overlay/canctl_svg.c \
	overlay/canctl_top.c
# The simulator: its main and the sim halves of the host and network seams
# (host.h, conn.h), which stand in for host.c and conn.c (sim.h).
SIM_SRC := overlay/cansim.c overlay/sim_host.c overlay/sim_net.c
OVERLAY_MAINS := overlay/canfsd.c $(CANCTL_SRC) $(SIM_SRC)
OVERLAY_SRC := $(filter-out $(OVERLAY_MAINS),$(wildcard overlay/*.c))
FS_MAINS := fs/canfs.c fs/fsck_main.c
FS_SRC := $(filter-out $(FS_MAINS),$(wildcard fs/*.c))
UNIT_SRC := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIBCOMMON := $(BUILD)/libcommon.a
LIBOVERLAY := $(BUILD)/liboverlay.a
LIBFS := $(BUILD)/libfs.a

BINS := $(BUILD)/canfsd $(BUILD)/canctl $(BUILD)/cansim
ifneq ($(wildcard fs/canfs.c),)
BINS += $(BUILD)/canfs $(BUILD)/canfs-fsck
endif
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TEST_BINS := $(if $(wildcard tests/fuzz/frame_fuzz.c),$(BUILD)/tests/frame-fuzz) \
	$(if $(wildcard tests/fuzz/meta_fuzz.c),$(BUILD)/tests/meta-fuzz) \
	$(if $(wildcard tests/passthrough.c),$(BUILD)/tests/passthrough) \
	$(if $(wildcard tests/objtool.c),$(BUILD)/tests/objtool) \
	$(if $(wildcard tests/posix/posix_suite.c),$(BUILD)/tests/posix_suite)

.PHONY: all test check-symbols check-asan unit fuzz bench bench-overlay bench-store \
	bench-fs bench-heartbeat bench-sim soak install uninstall deb clean format

all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBCOMMON): $(call obj,$(COMMON_SRC))
	rm -f $@ && $(AR) rcs $@ $^
$(LIBOVERLAY): $(call obj,$(OVERLAY_SRC))
	rm -f $@ && $(AR) rcs $@ $^
$(LIBFS): $(call obj,$(FS_SRC)) $(LIBCOMMON)
	rm -f $@ && $(AR) rcs $@ $(call obj,$(FS_SRC))

$(BUILD)/canfsd: $(call obj,overlay/canfsd.c) $(LIBOVERLAY) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBEVENT) $(LMDB) $(SODIUM) -lm
# The same node objects as canfsd, with the simulator's clock and network
# linked first: the archive's host.o and conn.o are then never pulled in
# (a symbol of theirs missing from the sim halves fails the link).
$(BUILD)/cansim: $(call obj,$(SIM_SRC)) $(LIBOVERLAY) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBEVENT) $(LMDB) $(SODIUM) -lpthread -lm
$(BUILD)/canctl: $(call obj,$(CANCTL_SRC)) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(SODIUM) -lpthread -lm
$(BUILD)/canfs: $(call obj,fs/canfs.c) $(LIBFS) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(FUSE) $(SODIUM) -lpthread -lm
# The checker "canctl fsck" runs (fs/fsck.h): built from fs/, no FUSE.
$(BUILD)/canfs-fsck: $(call obj,fs/fsck_main.c) $(LIBFS) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(SODIUM) -lpthread -lm

# Unit tests: one cmocka binary per module, linked against all libraries;
# the archives pull in only the objects a test uses.
$(BUILD)/tests/test_%: $(call obj,tests/unit/test_%.c) $(LIBOVERLAY) $(LIBFS) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA) $(LIBEVENT) $(LMDB) $(FUSE) $(SODIUM) -lpthread -lm

# The simulator's world (sim.h): its halves of host.h and conn.h, which no
# archive holds (the archives' host.o and conn.o would clash).
$(BUILD)/tests/test_sim: $(call obj,tests/unit/test_sim.c overlay/sim_host.c \
	overlay/sim_net.c) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA) $(SODIUM) -lpthread -lm

# canctl's pure modules, which are not in an archive.
$(BUILD)/tests/test_canctl_health: $(call obj,tests/unit/test_canctl_health.c \
	overlay/canctl_health.c) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA) $(SODIUM) -lpthread -lm
$(BUILD)/tests/test_canctl_svg: $(call obj,tests/unit/test_canctl_svg.c \
	overlay/canctl_svg.c overlay/canctl_health.c) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA) $(SODIUM) -lpthread -lm
# canctl top's arithmetic lives in a canctl file: link it in, before the
# archives (the test provides the canctl.c helpers it calls).
$(BUILD)/tests/test_canctl_top: $(call obj,tests/unit/test_canctl_top.c \
	overlay/canctl_top.c) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA) $(SODIUM) -lpthread -lm

# The decoder fuzz target.  Built with libFuzzer under clang (make fuzz);
# otherwise a standalone driver replays and mutates its corpus.
$(BUILD)/tests/frame-fuzz: $(call obj,tests/fuzz/frame_fuzz.c tests/fuzz/fuzz_main.c) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SODIUM) -lpthread -lm

# The same for the file system's records (inodes, directories).
$(BUILD)/tests/meta-fuzz: $(call obj,tests/fuzz/meta_fuzz.c tests/fuzz/fuzz_main.c fs/meta.c fs/lockrec.c) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SODIUM) -lpthread -lm

$(BUILD)/tests/posix_suite: tests/posix/posix_suite.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

$(BUILD)/tests/passthrough: $(call obj,tests/passthrough.c)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(FUSE) -lpthread

# The pipelined object-store client of the store scenarios and bench-store.
$(BUILD)/tests/objtool: $(call obj,tests/objtool.c) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SODIUM) -lpthread -lm

unit: $(UNIT_BINS)

test: all check-symbols $(UNIT_BINS) $(TEST_BINS)
	@BUILD=$(BUILD) tests/run.sh

# No external symbol may be defined in two modules (the unit tests link
# every archive: a duplicate would only be hidden by archive laziness).
check-symbols: $(LIBCOMMON) $(LIBOVERLAY) $(LIBFS)
	@d=$$(nm -g --defined-only $^ | awk 'NF == 3 && $$2 ~ /^[TDBRV]$$/ {print $$3}' | \
		sort | uniq -d); \
	if [ -n "$$d" ]; then echo "defined in two modules: $$d" >&2; exit 1; fi

check-asan:
	$(MAKE) SANITIZE=address,undefined test

fuzz:
	@mkdir -p $(BUILD)/fuzz/corpus
	clang -std=gnu11 -g -O1 -D_GNU_SOURCE -Icommon -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all \
		tests/fuzz/frame_fuzz.c $(COMMON_SRC) -o $(BUILD)/fuzz/frame-libfuzzer $(SODIUM) -lpthread -lm
	$(BUILD)/fuzz/frame-libfuzzer -max_total_time=$${FUZZ_SECONDS:-300} \
		-max_len=4096 $(BUILD)/fuzz/corpus tests/fuzz/corpus
	@mkdir -p $(BUILD)/fuzz/corpus-meta
	clang -std=gnu11 -g -O1 -D_GNU_SOURCE -Icommon -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all \
		tests/fuzz/meta_fuzz.c fs/meta.c fs/lockrec.c $(COMMON_SRC) -o $(BUILD)/fuzz/meta-libfuzzer $(SODIUM) -lpthread -lm
	$(BUILD)/fuzz/meta-libfuzzer -max_total_time=$${FUZZ_META_SECONDS:-60} \
		-max_len=8192 $(BUILD)/fuzz/corpus-meta tests/fuzz/corpus-meta

bench: bench-overlay bench-store bench-fs

bench-overlay: all
	scripts/bench-overlay.sh

bench-store: all $(TEST_BINS)
	scripts/bench-store.sh

bench-fs: all $(TEST_BINS)
	scripts/bench-fs.sh

# Path length in the simulator, d = 2..5 up to 4,096 nodes (cansim).
bench-sim: $(BUILD)/cansim
	BUILD=$(BUILD) scripts/bench-sim.sh

# Not part of bench: about 5 minutes of full store load with a 200 ms
# heartbeat; fails if any daemon declares a neighbour failed.
bench-heartbeat: all $(TEST_BINS)
	scripts/bench-heartbeat.sh

soak: all $(UNIT_BINS) $(TEST_BINS)
	SOAK=1 BUILD=$(BUILD) tests/run.sh

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 755 $(BUILD)/canfsd $(DESTDIR)$(SBINDIR)/canfsd
	install -m 755 $(BUILD)/canctl $(DESTDIR)$(BINDIR)/canctl
	if [ -f $(BUILD)/canfs-fsck ]; then \
		install -m 755 $(BUILD)/canfs-fsck $(DESTDIR)$(BINDIR)/canfs-fsck; fi
	if [ -f $(BUILD)/canfs ]; then \
		install -m 755 $(BUILD)/canfs $(DESTDIR)$(SBINDIR)/canfs; \
		ln -sf canfs $(DESTDIR)$(SBINDIR)/mount.canfs; fi
	for m in $(wildcard scripts/man/*.8); do install -m 644 $$m $(DESTDIR)$(MANDIR)/man8/; done

# The Debian package canfs_VERSION_ARCH.deb, offline (scripts/build-deb.sh).
deb: all
	@BUILD=$(BUILD) scripts/build-deb.sh

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/canfsd $(DESTDIR)$(BINDIR)/canctl \
		$(DESTDIR)$(BINDIR)/canfs-fsck \
		$(DESTDIR)$(SBINDIR)/canfs $(DESTDIR)$(SBINDIR)/mount.canfs

format:
	clang-format -i common/*.[ch] overlay/*.[ch] $(wildcard fs/*.[ch])

clean:
	rm -rf build build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
