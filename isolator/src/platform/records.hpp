// The seam's operator view: what one child slot publishes about itself for isolatorctl
// (docs/isolatorctl.md), so that a process outside the host can list every live isolate of
// its user. The engine holds one SlotRecord per supervisor and tells it two things: a child
// became ready (the record is rewritten to name it), and a call was served (a counter is
// bumped). Destroying the SlotRecord removes what it published.
//
// Publishing never fails an isolator: a directory that cannot be made or is not safe to use
// is logged once (warn) and nothing is published.
//
// Threads: a SlotRecord is used on its supervisor's executor only.
#pragma once

#include <isolator/limits.hpp>
#include <isolator/options.hpp>

#include <memory>
#include <string>

namespace isolator::detail {

class SlotRecord {
 public:
  virtual ~SlotRecord() = default;

  /// The slot's child `pid` said Hello: the record is rewritten (a new file renamed over the
  /// old one) to name it and its start time. Not on the call path: once per child.
  virtual void child_ready(int pid) = 0;

  /// A call's reply arrived. Costs one relaxed atomic add on a shared mapping: no system
  /// call, no file written.
  virtual void call_served() = 0;
};

/// The record of one new child slot, as `options` say (Options::publish_records,
/// Options::records_directory), or nullptr when publishing is off or refused. `kind` is
/// "isolator" or "pool"; `containment` and `limits` are what the launcher chose. The first
/// record a process publishes sweeps the records of dead hosts from the directory first.
/// Never throws.
std::unique_ptr<SlotRecord> publish_slot(const Options& options, const std::string& kind,
                                         const std::string& containment, const Limits& limits);

}  // namespace isolator::detail
