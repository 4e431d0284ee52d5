# The two commands an operator needs: `make demo` and `make test`. Both install what is missing.
SHELL := /bin/bash
CLANG ?= clang-14
ARCH_INCLUDE := /usr/include/$(shell uname -m)-linux-gnu
BPF_CFLAGS := -O2 -g -target bpf -Wall -Werror -I$(ARCH_INCLUDE) -Ibpf/include -Ibpf/lib
BPF_SRCS := $(wildcard bpf/progs/*.bpf.c)
BPF_OBJS := $(patsubst bpf/progs/%.bpf.c,bpf/build/%.bpf.o,$(BPF_SRCS))
# fixtures for the binding's own tests; not part of the ABI
BPF_TEST_OBJS := $(patsubst bpf/test/%.bpf.c,bpf/build/test/%.bpf.o,$(wildcard bpf/test/*.bpf.c))
NATIVE := packages/datapath/build/Release/bng_datapath.node
ABI_TS := packages/datapath/src/generated/abi.ts
PREFIX ?= /usr/local

.PHONY: all deps build bpf native ts abi-check abi-gen test demo bench install clean

all: build

deps:
	@scripts/deps.sh

build: deps bpf native abi-check ts

bpf: $(BPF_OBJS) $(BPF_TEST_OBJS)

bpf/build/test/%.bpf.o: bpf/test/%.bpf.c
	@mkdir -p bpf/build/test
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

bpf/build/%.bpf.o: bpf/progs/%.bpf.c $(wildcard bpf/include/bng/*.h bpf/lib/*.h)
	@mkdir -p bpf/build
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# The TypeScript view of abi.h is generated from the compiled object's BTF; the build fails
# when the committed file has drifted from what the object says.
abi-check: $(BPF_OBJS)
	node scripts/gen-abi.mjs --check $(ABI_TS) $(BPF_OBJS)

abi-gen: $(BPF_OBJS)
	node scripts/gen-abi.mjs --write $(ABI_TS) $(BPF_OBJS)

native: $(NATIVE)

$(NATIVE): $(wildcard packages/datapath/native/*) packages/datapath/binding.gyp
	npm run --silent -w @bng/datapath build:native >/dev/null

ts:
	npx tsc -b

test: build
	@mkdir -p build
	@status=0; npx vitest run --reporter=default --reporter=json --outputFile.json=build/vitest.json || status=$$?; \
	  node scripts/test-summary.mjs build/vitest.json; exit $$status

demo: build
	bin/bng demo

install: build
	install -d $(PREFIX)/bin
	for b in bin/*; do ln -sf $(CURDIR)/$$b $(PREFIX)/$$b; done

bench: build
	node bench/dhcp/run.mjs

clean:
	rm -rf bpf/build packages/*/dist packages/datapath/build
