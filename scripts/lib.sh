# Shared by scripts/start and scripts/test: make sure the tools they need are on this machine.

# Installs Debian's redis-server (which brings redis-cli) when it is missing and we can.
ensure_redis_server() {
  ensure_package redis-server redis-server redis-cli
}

# Installs openssl, which the TLS tests use to make a certificate.
ensure_openssl() {
  ensure_package openssl openssl
}

# Installs Debian's Chromium and its WebDriver, which the dashboard's browser tests drive (headless).
ensure_chromium() {
  ensure_package chromium chromium
  ensure_package chromium-driver chromedriver
}

# ensure_package PACKAGE COMMAND...: installs the Debian PACKAGE unless every COMMAND is on the PATH.
ensure_package() {
  local package=$1 command missing=""
  shift
  for command in "$@"; do
    command -v "$command" >/dev/null 2>&1 || missing=1
  done
  [ -z "$missing" ] && return 0
  echo "$package is not installed; installing the Debian package $package" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "cannot install $package without root; install it (apt-get install $package) and retry" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get here: install $package with your package manager and retry" >&2
    return 1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$package" >/dev/null
  # The package may start a service on 6379; recur's scripts start their own servers when they need one.
}

ensure_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is not installed: install Rust 1.89 or later (https://rustup.rs) and retry" >&2
    return 1
  fi
}
