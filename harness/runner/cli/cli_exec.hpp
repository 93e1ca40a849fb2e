// Runs jobs in forked child processes, a few at a time. Processes, not threads: the driver keeps
// module-level state (socket_module::set_interface), so two scenarios can never share an address space.
// A child that crashes, exits without a result or outlives the wall-clock limit is reported as such and
// never takes the runner down; every child is reaped before run_jobs returns, also when SIGINT or
// SIGTERM arrives (then the running children are killed and the signal number is returned).
#pragma once
#include <cstddef>
#include <functional>
#include <string>

namespace wizsim::cli {

struct job_outcome {
  enum class kind {
    finished,   // the child returned a payload and exited 0
    crashed,    // killed by a signal, or exited without delivering a payload (exit code, exception)
    timed_out,  // still running at the wall-clock limit; killed
  };
  kind what = kind::crashed;
  std::string payload;      // what the job function returned (finished only)
  std::string output;       // everything the child wrote to stdout and stderr (capped)
  int exit_code = -1;       // when the child exited normally
  int signal = 0;           // when a signal killed it (SIGKILL after a time-out)
  double wall_seconds = 0;  // from fork to reaping
  // How the child ended, to follow "the scenario process ": "was killed by signal 11 (Segmentation fault)",
  // "exited with status 7", ...
  std::string describe() const;
};

struct exec_options {
  unsigned jobs = 1;                 // children at a time (at least 1)
  double timeout_seconds = 120;      // per child, wall clock
  std::size_t output_cap = 1 << 20;  // bytes of a child's stdout/stderr kept; the rest is drained and dropped
};

// Runs in the child with the job's index; its return value is the payload sent back to the parent.
// An exception makes the child exit with status 3 (and its what() is in the output).
using job_function = std::function<std::string(std::size_t index)>;
// Parent side, in the order things happen: a job starts, a job has ended.
using start_callback = std::function<void(std::size_t index)>;
using done_callback = std::function<void(std::size_t index, const job_outcome& outcome)>;

// Runs jobs 0..count-1 (started in index order) and returns 0, or the signal (SIGINT, SIGTERM) that
// interrupted the run; after an interruption the jobs not reported through `done` did not complete.
int run_jobs(std::size_t count, const exec_options& options, const job_function& job,
             const start_callback& started, const done_callback& done);

}  // namespace wizsim::cli
