// Exceptions: thrown when the library cannot do what was asked (bad options, no child could
// be started by create(), use after shutdown). A call's own failure is a CallResult instead.
#pragma once

#include <stdexcept>

namespace isolator {

/// Base of every exception isolator throws. what() names the problem and, where there is
/// one, the fix. Thrown as itself when a call or a value cannot be sent (too large), a pool's
/// queue is full, or a blocking function is called on the isolator's own I/O thread.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// create() could not start a working child: pihost missing or not executable, the socket
/// directory unusable, the start timed out, the child spoke another protocol version...
class StartError : public Error {
 public:
  using Error::Error;
};

/// The options are invalid (a zero timeout, an oversize limit...).
class OptionsError : public Error {
 public:
  using Error::Error;
};

/// The isolator was shut down; it takes no more calls.
class ShutDownError : public Error {
 public:
  using Error::Error;
};

}  // namespace isolator
