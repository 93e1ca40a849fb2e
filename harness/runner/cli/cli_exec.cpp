#include "cli_exec.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <vector>

namespace wizsim::cli {

std::string job_outcome::describe() const {
  if (what == kind::timed_out) return "was killed at the wall-clock limit";
  if (signal != 0) return "was killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  if (exit_code == 0) return what == kind::finished ? "finished" : "exited without delivering a result";
  if (exit_code == 3) return "was aborted by an exception (exit status 3)";
  return "exited with status " + std::to_string(exit_code);
}

namespace {

using clock_type = std::chrono::steady_clock;

// The self-pipe that turns SIGINT/SIGTERM into something poll() sees.
int g_signal_pipe_write = -1;

extern "C" void on_signal(int signo) {
  const int saved = errno;
  const unsigned char b = static_cast<unsigned char>(signo);
  if (g_signal_pipe_write >= 0) (void)!write(g_signal_pipe_write, &b, 1);
  errno = saved;
}

void write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) _exit(4);  // the parent is gone or the pipe broke: nobody will read a result
    done += static_cast<std::size_t>(n);
  }
}

struct child {
  std::size_t index = 0;
  pid_t pid = -1;
  int result_fd = -1;  // payload
  int output_fd = -1;  // stdout + stderr
  clock_type::time_point start, deadline;
  std::string payload, output;
  bool timed_out = false;
};

void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// Reads what is available; returns false at end of file (or error), when the fd is closed and set to -1.
void drain(int& fd, std::string& into, std::size_t cap) {
  char buf[65536];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      const std::size_t room = into.size() < cap ? cap - into.size() : 0;
      into.append(buf, std::min(room, static_cast<std::size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    close(fd);  // end of file, or an error that will not go away
    fd = -1;
    return;
  }
}

[[noreturn]] void child_main(std::size_t index, const job_function& job, int result_w, int output_w,
                             pid_t parent, const std::vector<int>& inherited_fds) {
  // Own process group, so a kill reaches anything the job might start; die with the parent even if it is
  // SIGKILLed and cannot clean up.
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(5);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGPIPE, SIGCHLD}) sigaction(s, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int fd : inherited_fds) close(fd);
  const int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) {
    dup2(devnull, STDIN_FILENO);
    close(devnull);
  }
  dup2(output_w, STDOUT_FILENO);
  dup2(output_w, STDERR_FILENO);
  close(output_w);
  int status = 0;
  try {
    // The marker tells "returned an empty payload" from "died before returning".
    write_all(result_w, "R" + job(index));
  } catch (const std::exception& e) {
    std::cerr << "wizsim: uncaught exception: " << e.what() << "\n";
    status = 3;
  } catch (...) {
    std::cerr << "wizsim: uncaught exception of unknown type\n";
    status = 3;
  }
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  // _exit: no static destructors or atexit handlers of the parent's state run twice.
  _exit(status);
}

}  // namespace

int run_jobs(std::size_t count, const exec_options& options, const job_function& job,
             const start_callback& started, const done_callback& done) {
  const unsigned jobs = std::max(1u, options.jobs);
  const auto limit = std::chrono::duration_cast<clock_type::duration>(
      std::chrono::duration<double>(options.timeout_seconds));

  int sigpipe[2];
  if (pipe2(sigpipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::perror("wizsim: pipe");
    return SIGTERM;
  }
  g_signal_pipe_write = sigpipe[1];
  struct sigaction sa {
  }, old_int{}, old_term{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  std::vector<child> running;
  std::size_t next = 0;
  int interrupted = 0;
  const pid_t self = getpid();

  auto finish = [&](child& c, int status) {
    job_outcome o;
    o.wall_seconds = std::chrono::duration<double>(clock_type::now() - c.start).count();
    o.output = std::move(c.output);
    if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
    if (c.timed_out) {
      o.what = job_outcome::kind::timed_out;
    } else if (WIFEXITED(status) && o.exit_code == 0 && !c.payload.empty() && c.payload[0] == 'R') {
      o.what = job_outcome::kind::finished;
      o.payload = c.payload.substr(1);
    } else {
      o.what = job_outcome::kind::crashed;
    }
    if (done) done(c.index, o);
  };
  auto close_fds = [](child& c) {
    if (c.result_fd >= 0) close(c.result_fd);
    if (c.output_fd >= 0) close(c.output_fd);
    c.result_fd = c.output_fd = -1;
  };
  auto kill_child = [](const child& c) {
    kill(-c.pid, SIGKILL);
    kill(c.pid, SIGKILL);
  };
  auto reap = [](pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  };

  while (!interrupted && (next < count || !running.empty())) {
    while (!interrupted && running.size() < jobs && next < count) {
      int rp[2], op[2];
      if (pipe2(rp, O_CLOEXEC) != 0) break;
      if (pipe2(op, O_CLOEXEC) != 0) {
        close(rp[0]);
        close(rp[1]);
        break;
      }
      std::vector<int> inherited{sigpipe[0], sigpipe[1], rp[0], op[0]};
      for (const auto& c : running) {
        if (c.result_fd >= 0) inherited.push_back(c.result_fd);
        if (c.output_fd >= 0) inherited.push_back(c.output_fd);
      }
      std::cout.flush();
      std::cerr.flush();
      std::fflush(nullptr);
      child c;
      c.index = next;
      c.start = clock_type::now();
      c.deadline = c.start + limit;
      c.pid = fork();
      if (c.pid == 0) child_main(next, job, rp[1], op[1], self, inherited);
      close(rp[1]);
      close(op[1]);
      if (c.pid < 0) {
        std::perror("wizsim: fork");
        close(rp[0]);
        close(op[0]);
        interrupted = SIGTERM;
        break;
      }
      setpgid(c.pid, c.pid);  // also here: whichever of parent and child runs first
      c.result_fd = rp[0];
      c.output_fd = op[0];
      set_nonblocking(c.result_fd);
      set_nonblocking(c.output_fd);
      ++next;
      if (started) started(c.index);
      running.push_back(std::move(c));
    }
    if (interrupted || running.empty()) break;

    std::vector<pollfd> fds{{sigpipe[0], POLLIN, 0}};
    auto now = clock_type::now();
    auto wait_until = clock_type::time_point::max();
    bool exited_unreaped = false;
    for (const auto& c : running) {
      if (c.result_fd >= 0) fds.push_back({c.result_fd, POLLIN, 0});
      if (c.output_fd >= 0) fds.push_back({c.output_fd, POLLIN, 0});
      if (c.result_fd < 0 && c.output_fd < 0) exited_unreaped = true;
      wait_until = std::min(wait_until, c.deadline);
    }
    int timeout_ms = -1;
    if (wait_until != clock_type::time_point::max()) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(wait_until - now).count();
      timeout_ms = static_cast<int>(std::clamp<long long>(left, 0, 60'000));
    }
    // Both pipes closed means the child is exiting; look again soon instead of sleeping to the deadline.
    if (exited_unreaped) timeout_ms = std::min(timeout_ms < 0 ? 10 : timeout_ms, 10);
    if (poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
      std::perror("wizsim: poll");
      interrupted = SIGTERM;
      break;
    }
    unsigned char sig = 0;
    while (read(sigpipe[0], &sig, 1) == 1) interrupted = sig;
    if (interrupted) break;

    now = clock_type::now();
    for (auto it = running.begin(); it != running.end();) {
      child& c = *it;
      if (c.result_fd >= 0) drain(c.result_fd, c.payload, static_cast<std::size_t>(-1));
      if (c.output_fd >= 0) drain(c.output_fd, c.output, options.output_cap);
      int status = 0;
      bool ended = false;
      if (c.result_fd < 0 && c.output_fd < 0) {
        const pid_t w = waitpid(c.pid, &status, WNOHANG);
        ended = w == c.pid;
      }
      if (!ended && now >= c.deadline) {
        c.timed_out = true;
        kill_child(c);
        close_fds(c);
        status = reap(c.pid);
        ended = true;
      }
      if (ended) {
        close_fds(c);
        finish(c, status);
        it = running.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Interrupted (or fork failed): nothing keeps running behind the user's back.
  for (auto& c : running) kill_child(c);
  for (auto& c : running) {
    close_fds(c);
    reap(c.pid);
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  g_signal_pipe_write = -1;
  close(sigpipe[0]);
  close(sigpipe[1]);
  return interrupted;
}

}  // namespace wizsim::cli
