// pihost's crash reporter: what the crash handler (crash_capture.hpp) execs in the place of
// the dying process. A fresh image of pihost, so none of the crashed process's state (its
// heap, the loader's locks) is used; the same process, so it is inside the same box and
// sandbox as the plugin, which matters because it reads the libraries' symbols and debug
// information, which are as untrusted as the plugin.
//
// It checks what the handler recorded, sends a first Crash (each frame's library and
// offset), names the functions and their source lines with elfutils' libdw (loaded with
// dlopen here, so that pihost's start costs nothing for it: ~1 ms when linked), sends the
// complete Crash, and ends the process of the signal the plugin's thread got, so that the
// host sees the same death as without a report. It stops naming after the time it was
// given (--crash-report-ms), and dies of that signal whatever goes wrong, its own crash
// included.
#pragma once

namespace pihost {

/// The crash reporter's main: `pihost --report-crash FD MAX_FRAME_BYTES REPORT_MS CAPTURE`
/// (pihost_contract.hpp). Never returns.
[[noreturn]] void report_crash(int argc, char** argv);

}  // namespace pihost
