// Evaluates emc-compare's inputs on several sessions (one per worker thread: each has its own
// float executor and interpreter, nothing is shared) and hands the results back in input order,
// so a parallel run reports exactly what a sequential one does.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "session.h"

namespace emc::compare {

// The outcome of one input: an image result, an error, or neither (not run because an earlier
// input failed fatally).
struct InputOutcome {
  std::optional<ImageResult> image;
  std::optional<Error> error;
};

// Runs items[i] on some sessions[w] (w < sessions.size(), each used by one thread only). After
// an error for which `fatal(item, error)` is true no new input is started. `progress(done, item)`
// is called after every input, serialised (never concurrently). The per-layer statistics stay in
// the session that ran the input (Session::merge_layers pools them).
std::vector<InputOutcome> evaluate_parallel(
    const std::vector<Session*>& sessions, const std::vector<InputItem>& items,
    const std::function<bool(const InputItem&, const Error&)>& fatal,
    const std::function<void(std::size_t, const std::string&)>& progress);

// The default worker count: the number of hardware threads (at least 1).
std::size_t default_jobs();

}  // namespace emc::compare
