// Marks the I/O threads of isolators, where completion handlers and Options callbacks run by
// default. Code that would block there (a pool waiting for its children, which may need
// that very thread) asks first.
#pragma once

namespace isolator::detail {

/// True on a ProcessIsolator's I/O thread (set once as the thread starts).
inline thread_local bool on_an_isolator_io_thread = false;

}  // namespace isolator::detail
