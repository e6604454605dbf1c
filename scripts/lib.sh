# Shared by scripts/start and scripts/test: make sure the tools they need are on this machine.

# Installs Debian's redis-server (which brings redis-cli) when it is missing and we can.
ensure_redis_server() {
  if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    return 0
  fi
  echo "redis-server is not installed; installing the Debian package redis-server" >&2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "cannot install redis-server without root; install it (apt-get install redis-server) and retry" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get here: install redis-server (7.0 or later) with your package manager and retry" >&2
    return 1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
  # The package may start a service on 6379; recur's scripts start their own servers when they need one.
}

ensure_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is not installed: install Rust 1.89 or later (https://rustup.rs) and retry" >&2
    return 1
  fi
}
