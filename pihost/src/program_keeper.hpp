// The keeper of one program that a Run asked for (ProcessIsolator::run): pihost started
// again as `pihost --keep-program PIHOST_PID CPU_LIMIT_MS COUNT NAME=VALUE... -- PROGRAM
// [ARG...]`, with the program's stdin on descriptor 0, pihost's stdout and stderr on 1 and 2,
// the program's working directory already its own, and a pipe to pihost on descriptor 3. The
// COUNT variables are the program's whole environment; the keeper itself runs with pihost's,
// so that nothing a Command sets (LD_PRELOAD, LD_LIBRARY_PATH) reaches pihost's own code.
//
// Why a process between pihost and the program: pihost is a child subreaper with threads
// and plugins of its own, so it cannot tell the processes a program left behind from those a
// plugin started, and it cannot safely do more than exec after a fork. The keeper is a fresh,
// single-threaded process and a child subreaper itself: whatever the program starts, however
// it detaches (a double fork, setsid), stays the keeper's descendant, so that when the
// program ends the keeper kills exactly its tree and nothing else.
//
// What it does: forks the program's process, which sets RLIMIT_CPU (when CPU_LIMIT_MS is not
// 0: the limit rounded up to whole seconds, SIGXCPU there and SIGKILL a second later) and
// execs the program (argv[0] absolute, or looked up in PATH); reports on descriptor 3 that it
// started, or why it could not (nothing at the path or in PATH, with the places tried; not
// executable, with why: no permission, a directory, an unknown format, a missing ELF or #!
// interpreter); waits for it; kills and reaps everything it left (going on for up to 5 s
// while killed processes take their time to go); reports how it ended and what its processes
// used (their CPU time and the largest resident set); exits 0. When pihost dies first (the
// death signal, SIGTERM, or a report that finds no reader: SIGPIPE is ignored), it kills the
// program's tree and exits.
//
// The report is lines of text on descriptor 3, each "WORD FIELDS...\n", at most two:
//   started
//   exited CODE USER_US SYS_US MAX_RSS_BYTES
//   signalled SIGNAL USER_US SYS_US MAX_RSS_BYTES
//   not_found MESSAGE | not_executable MESSAGE | failed MESSAGE   (instead of both)
// A MESSAGE holds no newline.
#pragma once

namespace pihost {

/// The keeper's main: argv as above (argv[1] is flag_keep_program). Never returns.
[[noreturn]] void keep_program(int argc, char** argv);

}  // namespace pihost
