// Everything a host application needs: #include <isolator/isolator.hpp>.
#pragma once

#include <isolator/call_result.hpp>
#include <isolator/errors.hpp>
#include <isolator/events.hpp>
#include <isolator/isolator_pool.hpp>
#include <isolator/jobs.hpp>
#include <isolator/limits.hpp>
#include <isolator/logging.hpp>
#include <isolator/options.hpp>
#include <isolator/probe.hpp>
#include <isolator/process_isolator.hpp>
