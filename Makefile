# portcullis: `make test` and `make demo` work on a fresh Debian machine (as root): they install what they need.

APT_PACKAGES := docker.io busybox-static openssh-client tmux expect docker-registry asciinema chromium libjemalloc2 postgresql rsyslog rsyslog-relp iproute2
NODE_STAMP := node_modules/.package-lock.json

.PHONY: all deps system-deps jemalloc sshd-reference build plugin install uninstall test test-unit test-e2e demo demo-fleet bench clean

all: build

system-deps:
	@missing=""; \
	command -v dockerd >/dev/null 2>&1 || missing="$$missing docker.io"; \
	[ -x /usr/bin/docker ] || missing="$$missing docker.io"; \
	[ -x /usr/bin/busybox ] || missing="$$missing busybox-static"; \
	command -v ssh >/dev/null 2>&1 || missing="$$missing openssh-client"; \
	command -v tmux >/dev/null 2>&1 || missing="$$missing tmux"; \
	command -v expect >/dev/null 2>&1 || missing="$$missing expect"; \
	command -v docker-registry >/dev/null 2>&1 || missing="$$missing docker-registry"; \
	command -v asciinema >/dev/null 2>&1 || missing="$$missing asciinema"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	ldconfig -p | grep -q 'libjemalloc\.so\.2 ' || missing="$$missing libjemalloc2"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/sbin/rsyslogd ] || missing="$$missing rsyslog"; \
	command -v ss >/dev/null 2>&1 || missing="$$missing iproute2"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; \
	  case "$$missing" in *rsyslog*) \
	    command -v systemctl >/dev/null 2>&1 && systemctl disable --now rsyslog.service syslog.socket >/dev/null 2>&1; \
	    echo "rsyslog: installed for the alert tests, which run their own rsyslogd; the system's rsyslog.service is left disabled" ;; \
	  esac; \
	fi

# The allocator serve runs on, in the systemd unit and the managed plugin (see plugin/portcullis.service).
jemalloc:
	@ldconfig -p | grep -q 'libjemalloc\.so\.2 ' || { \
	  echo "installing: libjemalloc2"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libjemalloc2 >/dev/null; \
	}

# The bench's OpenSSH reference (bench/openssh.js): Debian's sshd, run by the bench in a mount namespace of its own on
# a loopback port. Only `make bench` installs it. On a host run by systemd, Debian's package also enables and starts
# the system's ssh.service on port 22 (`systemctl disable --now ssh` stops it; the bench never uses it).
sshd-reference:
	@[ -x /usr/sbin/sshd ] || { \
	  echo "installing: openssh-server (for the bench's OpenSSH reference; skip it with npm run bench -- --skip-sshd)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null; \
	}

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund

deps: system-deps $(NODE_STAMP)

build: $(NODE_STAMP)
	npm run build --silent

# The managed-plugin bundle: plugin/config.json + plugin/rootfs (see plugin/README.md).
plugin: build jemalloc
	bash scripts/build-plugin.sh

# Host mode: /usr/local/lib/portcullis, /usr/local/bin/portcullis and a systemd unit (PREFIX, SOCKET, DESTDIR).
install: build jemalloc
	bash scripts/install.sh

uninstall:
	bash scripts/install.sh --uninstall

test: deps build
	npx tsc -p tsconfig.check.json
	npx eslint src test
	npx depcruise src
	npx knip
	npx vitest run

test-unit: $(NODE_STAMP)
	npx vitest run test/unit

test-e2e: deps build
	npx vitest run test/e2e

demo: deps build
	bash scripts/demo.sh

# Three hosts shipping to one private PostgreSQL and running one signed policy (docs/fleet.md).
demo-fleet: deps build
	node scripts/demo-fleet.mjs

bench: deps sshd-reference build
	npm run bench --silent

clean:
	rm -rf dist plugin/rootfs plugin/config.json
