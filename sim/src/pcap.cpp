#include "wizsim/pcap.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace wizsim {

namespace {

std::string reason(int err) {
  return err != 0 ? std::strerror(err) : "unknown error";
}

void le16(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
}
void le32(std::uint8_t* p, std::uint32_t v) {
  le16(p, v);
  le16(p + 2, v >> 16);
}

}  // namespace

pcap_writer::pcap_writer(const std::string& path) : m_path(path) {
  errno = 0;
  m_file = std::fopen(path.c_str(), "wb");
  if (m_file == nullptr) {
    throw std::runtime_error(
        fmt::format("pcap_writer: cannot open '{}' for writing: {}", path, reason(errno)));
  }
  std::uint8_t hdr[global_header_len] = {};
  le32(hdr, magic_ns);
  le16(hdr + 4, version_major);
  le16(hdr + 6, version_minor);
  // thiszone (8..11) and sigfigs (12..15) stay 0.
  le32(hdr + 16, snaplen);
  le32(hdr + 20, linktype_ethernet);
  try {
    put(hdr, sizeof(hdr));
  } catch (...) {
    std::fclose(m_file);
    m_file = nullptr;
    throw;
  }
}

pcap_writer::~pcap_writer() {
  if (m_file != nullptr) std::fclose(m_file);  // flushes; nothing useful to do with an error here
}

void pcap_writer::write(const octets& frame, ps_t t) {
  write(frame.data(), frame.size(), t);
}

void pcap_writer::write(const std::uint8_t* frame, std::size_t n, ps_t t) {
  const std::uint64_t t_ns = t / ps_per_ns;
  const std::uint32_t incl = static_cast<std::uint32_t>(std::min<std::size_t>(n, snaplen));
  const std::uint32_t orig = static_cast<std::uint32_t>(std::min<std::size_t>(n, 0xFFFFFFFFu));
  std::uint8_t rec[record_header_len];
  le32(rec, static_cast<std::uint32_t>(t_ns / 1'000'000'000u));
  le32(rec + 4, static_cast<std::uint32_t>(t_ns % 1'000'000'000u));
  le32(rec + 8, incl);
  le32(rec + 12, orig);
  put(rec, sizeof(rec));
  if (incl != 0) put(frame, incl);
  ++m_records;
}

void pcap_writer::flush() {
  if (std::fflush(m_file) != 0) {
    throw std::runtime_error(fmt::format("pcap_writer: cannot write '{}': {}", m_path, reason(errno)));
  }
}

void pcap_writer::put(const std::uint8_t* p, std::size_t n) {
  errno = 0;
  if (std::fwrite(p, 1, n, m_file) != n) {
    throw std::runtime_error(fmt::format("pcap_writer: cannot write '{}': {}", m_path, reason(errno)));
  }
}

}  // namespace wizsim
