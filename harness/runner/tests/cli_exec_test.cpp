// The process pool behind --jobs: results come back from forked children; a crash, an exit without a
// result, an exception or a hang is reported as such and never hurts the runner; at most `jobs` children
// run at once; every child is reaped, also when SIGTERM interrupts the run.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cli_exec.hpp"

using namespace wizsim::cli;

namespace {

std::map<std::size_t, job_outcome> run_all(std::size_t count, const exec_options& eo, const job_function& job,
                                           int* interrupted = nullptr) {
  std::map<std::size_t, job_outcome> out;
  const int sig = run_jobs(count, eo, job, nullptr, [&](std::size_t i, const job_outcome& o) { out[i] = o; });
  if (interrupted) *interrupted = sig;
  return out;
}

// No child of this process is left, not even a zombie.
bool no_children_left() {
  return waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

TEST(CliExec, PayloadsAndOutputComeBackPerJob) {
  exec_options eo;
  eo.jobs = 3;
  const auto r = run_all(7, eo, [](std::size_t i) {
    std::cout << "stdout of " << i << "\n";
    std::cerr << "stderr of " << i << "\n";
    return "payload " + std::to_string(i * i);
  });
  ASSERT_EQ(r.size(), 7u);
  for (const auto& [i, o] : r) {
    EXPECT_EQ(o.what, job_outcome::kind::finished) << i;
    EXPECT_EQ(o.payload, "payload " + std::to_string(i * i));
    EXPECT_NE(o.output.find("stdout of " + std::to_string(i)), std::string::npos);
    EXPECT_NE(o.output.find("stderr of " + std::to_string(i)), std::string::npos);
    EXPECT_EQ(o.exit_code, 0);
  }
  EXPECT_TRUE(no_children_left());
}

TEST(CliExec, AnEmptyPayloadIsStillAResult) {
  const auto r = run_all(1, {}, [](std::size_t) { return std::string(); });
  EXPECT_EQ(r.at(0).what, job_outcome::kind::finished);
  EXPECT_EQ(r.at(0).payload, "");
}

TEST(CliExec, CrashesExitsAndExceptionsAreReportedNotFatal) {
  exec_options eo;
  eo.jobs = 2;
  const auto r = run_all(5, eo, [](std::size_t i) -> std::string {
    switch (i) {
      case 0:
        std::raise(SIGSEGV);
        break;
      case 1:
        std::abort();
      case 2:
        std::_Exit(7);
      case 3:
        throw std::runtime_error("engine exploded");
      default:
        break;
    }
    return "fine";
  });
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r.at(0).what, job_outcome::kind::crashed);
  EXPECT_EQ(r.at(0).signal, SIGSEGV);
  EXPECT_NE(r.at(0).describe().find("signal 11"), std::string::npos);
  EXPECT_EQ(r.at(1).what, job_outcome::kind::crashed);
  EXPECT_EQ(r.at(1).signal, SIGABRT);
  EXPECT_EQ(r.at(2).what, job_outcome::kind::crashed);
  EXPECT_EQ(r.at(2).exit_code, 7);
  EXPECT_NE(r.at(2).describe().find("status 7"), std::string::npos);
  EXPECT_EQ(r.at(3).what, job_outcome::kind::crashed);
  EXPECT_NE(r.at(3).output.find("engine exploded"), std::string::npos);
  EXPECT_EQ(r.at(4).what, job_outcome::kind::finished);  // the crashes around it did not disturb it
  EXPECT_EQ(r.at(4).payload, "fine");
  EXPECT_TRUE(no_children_left());
}

TEST(CliExec, AHangingChildIsKilledAtTheLimitAndTheOthersFinish) {
  exec_options eo;
  eo.jobs = 2;
  eo.timeout_seconds = 0.3;
  const auto r = run_all(3, eo, [](std::size_t i) -> std::string {
    if (i == 1)
      for (;;) pause();
    return "done";
  });
  EXPECT_EQ(r.at(0).what, job_outcome::kind::finished);
  EXPECT_EQ(r.at(1).what, job_outcome::kind::timed_out);
  EXPECT_EQ(r.at(1).signal, SIGKILL);
  EXPECT_EQ(r.at(2).what, job_outcome::kind::finished);
  EXPECT_TRUE(no_children_left());
}

TEST(CliExec, LargePayloadsArriveWholeAndOutputIsCapped) {
  exec_options eo;
  eo.jobs = 2;
  eo.output_cap = 1000;
  const std::string big(5 << 20, 'p');
  const auto r = run_all(2, eo, [&](std::size_t) {
    std::cout << std::string(300000, 'o') << std::flush;  // more than a pipe holds: must be drained
    return big;
  });
  for (const auto& [i, o] : r) {
    EXPECT_EQ(o.what, job_outcome::kind::finished) << i;
    EXPECT_EQ(o.payload.size(), big.size());
    EXPECT_EQ(o.output.size(), 1000u);
  }
}

TEST(CliExec, NeverMoreThanJobsChildrenAtOnce) {
  exec_options eo;
  eo.jobs = 2;
  int running = 0, peak = 0, finished = 0;
  run_jobs(
      6, eo,
      [](std::size_t) {
        // Long enough that a pool ignoring the limit would have several running at once.
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        return std::string("x");
      },
      [&](std::size_t) { peak = std::max(peak, ++running); },
      [&](std::size_t, const job_outcome& o) {
        --running;
        finished += o.what == job_outcome::kind::finished;
      });
  EXPECT_EQ(peak, 2);
  EXPECT_EQ(finished, 6);
}

TEST(CliExec, JobsStartInIndexOrder) {
  exec_options eo;
  eo.jobs = 3;
  std::vector<std::size_t> order;
  run_jobs(
      8, eo, [](std::size_t) { return std::string(); }, [&](std::size_t i) { order.push_back(i); }, nullptr);
  EXPECT_EQ(order, (std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(CliExec, SigtermKillsAndReapsEveryRunningChild) {
  int pids[2];
  ASSERT_EQ(pipe(pids), 0);
  const pid_t runner = fork();
  ASSERT_GE(runner, 0);
  if (runner == 0) {
    close(pids[0]);
    exec_options eo;
    eo.jobs = 2;
    eo.timeout_seconds = 60;
    const int sig = run_jobs(
        4, eo,
        [&](std::size_t) -> std::string {
          const pid_t me = getpid();
          (void)!write(pids[1], &me, sizeof me);
          for (;;) pause();
        },
        nullptr, nullptr);
    // Only reached when run_jobs returned: report which signal stopped it and whether children remain.
    _exit(sig == SIGTERM && no_children_left() ? 42 : 1);
  }
  close(pids[1]);
  std::vector<pid_t> children;
  for (int k = 0; k < 2; ++k) {
    pid_t p = 0;
    ASSERT_EQ(read(pids[0], &p, sizeof p), static_cast<ssize_t>(sizeof p));
    children.push_back(p);
  }
  close(pids[0]);
  ASSERT_EQ(kill(runner, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(runner, &status, 0), runner);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 42);
  for (pid_t p : children) EXPECT_EQ(kill(p, 0) == -1 ? errno : 0, ESRCH) << "child " << p << " survived";
}

}  // namespace
