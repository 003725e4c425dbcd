#!/usr/bin/env bash
# Installs the Debian (bookworm) packages that interop needs to build, test and benchmark.
# Called by `make`; safe to run again: it installs only what is missing.
#
# Why these libraries:
#   libsqlite3-dev     embedded store: one database per connected system and per component (WAL, durable)
#   libjansson-dev     JSON: strict parser with line/column errors, small, stable API, in Debian for 10+ years
#   libmicrohttpd-dev  HTTP server: GNU's embeddable server, thread-pool mode, TLS through GnuTLS
#   libsodium-dev      argon2id for token hashes, BLAKE2b for the hash-chained logs, constant-time compares
#   libicu-dev         Unicode normalisation, case folding and script transliterators for the names engine
#   libutf8proc-dev    fast NFKC / case folding on the hot path of the names engine
#   mecab-ipadic       Japanese readings of kanji names (the IPA dictionary's person names, Noun.name.csv)
#   libgnutls28-dev    TLS for the HTTP server (libmicrohttpd's TLS backend)
#   openssl            test certificates for the TLS tests
#   wrk                HTTP load generator for `make bench`
#   libfaiss-dev       the face-scan benchmark compares against FAISS IndexFlatIP
#   clang, libclang-rt-14-dev  the clang warnings build and sanitizer runtimes
set -euo pipefail
pkgs=(build-essential cmake pkg-config libsqlite3-dev sqlite3 libjansson-dev libmicrohttpd-dev libsodium-dev
      libicu-dev libutf8proc-dev mecab-ipadic libgnutls28-dev openssl wrk clang libclang-rt-14-dev curl)
if [ "${IOP_BENCH_DEPS:-0}" = 1 ]; then pkgs+=(libfaiss-dev libopenblas-dev); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
