// Errors without exceptions: the driver's core builds with -fno-exceptions and uses no heap, so every
// fallible call returns an `error` or a `result<T>`. The error kinds map the exceptions the Python
// reference (adafruit_wiznet5k) raises, one for one:
//
//   Python                      C++ (wiznet5k::errc)
//   ValueError                  value_error        an argument out of range or malformed
//   RuntimeError                runtime_error      the chip or the driver cannot do it now
//   ConnectionError             connection_error   the network refused, reset or lost a connection
//   TimeoutError / timeout      timeout_error      nothing happened within the timeout
//   (OSError EAGAIN)            would_block        non-blocking call with nothing to do
//
// `message` always points at a string literal (static storage), so errors are cheap to copy and never
// own memory.
#pragma once
#include <cstdint>

namespace wiznet5k {

enum class errc : std::uint8_t { ok = 0, value_error, runtime_error, connection_error, timeout_error, would_block };

// The Python exception name of an error kind ("ValueError", ...), "ok" for errc::ok.
constexpr const char* errc_name(errc e) {
  switch (e) {
    case errc::ok: return "ok";
    case errc::value_error: return "ValueError";
    case errc::runtime_error: return "RuntimeError";
    case errc::connection_error: return "ConnectionError";
    case errc::timeout_error: return "TimeoutError";
    case errc::would_block: return "BlockingIOError";
  }
  return "?";
}

struct error {
  errc code = errc::ok;
  const char* message = "";

  constexpr bool ok() const { return code == errc::ok; }
  // True when this is an error (so `if (auto e = f()) handle(e);` reads naturally).
  constexpr explicit operator bool() const { return code != errc::ok; }
};

constexpr error fail(errc code, const char* message) { return error{code, message}; }

// A value or an error. `value` is meaningful only when ok().
template <typename T>
struct result {
  T value{};
  error err{};

  constexpr result() = default;
  constexpr result(T v) : value(v) {}  // NOLINT: implicit on purpose (return value;)
  constexpr result(error e) : err(e) {}  // NOLINT: implicit on purpose (return fail(...);)

  constexpr bool ok() const { return err.ok(); }
  constexpr explicit operator bool() const { return ok(); }
  constexpr const T& operator*() const { return value; }
  constexpr const T* operator->() const { return &value; }
};

}  // namespace wiznet5k
