# Sourced by scripts/test: the browser tests need Chromium and its driver. On Debian or
# Ubuntu they are installed here when missing; elsewhere this says what to install.
have_chromium() {
  command -v chromedriver >/dev/null 2>&1 &&
    { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }
}
if ! have_chromium; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo_cmd=""
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
    echo "Installing chromium and chromium-driver for the browser tests (apt-get)..." >&2
    $sudo_cmd apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 ||
      { $sudo_cmd apt-get update -q >/dev/null && $sudo_cmd apt-get install -y -q chromium chromium-driver >/dev/null; }
  fi
  if ! have_chromium; then
    echo "error: the browser tests need Chromium and chromedriver on PATH." >&2
    echo "  Debian/Ubuntu: apt-get install chromium chromium-driver; elsewhere: your package manager's chromium and chromedriver." >&2
    exit 1
  fi
fi
