// Classic libpcap capture file writer (nanosecond variant), for looking at what crossed the chip's
// Ethernet port with Wireshark/tshark. Records are stamped from virtual time, never from the wall clock.
//
// File layout, always little-endian (readers detect the byte order from the magic), so the same run
// gives the same bytes on every host:
//   global header: magic 0xa1b23c4d (ns timestamps), version 2.4, thiszone 0, sigfigs 0,
//                  snaplen 65535, linktype 1 (LINKTYPE_ETHERNET)
//   per record:    ts_sec, ts_nsec (ps / 1000 split at 1e9), incl_len, orig_len, then the frame
// Frames are Ethernet II from the destination MAC onward, without preamble and FCS, as the chip's port
// carries them. A frame longer than snaplen is cut to snaplen (orig_len keeps the real length).
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

#include "wizsim/packet.hpp"
#include "wizsim/time.hpp"

namespace wizsim {

class pcap_writer {
 public:
  static constexpr std::uint32_t magic_ns = 0xa1b23c4d;
  static constexpr std::uint16_t version_major = 2, version_minor = 4;
  static constexpr std::uint32_t snaplen = 65535;
  static constexpr std::uint32_t linktype_ethernet = 1;
  static constexpr std::size_t global_header_len = 24, record_header_len = 16;

  // Creates (truncates) `path` and writes the global header. Throws std::runtime_error naming the path
  // and the system's reason when the file cannot be opened or written.
  explicit pcap_writer(const std::string& path);
  ~pcap_writer();  // flushes and closes
  pcap_writer(const pcap_writer&) = delete;
  pcap_writer& operator=(const pcap_writer&) = delete;

  // Appends one record stamped `t` (virtual picoseconds; sub-nanosecond parts are truncated).
  // Throws std::runtime_error if the write fails.
  void write(const octets& frame, ps_t t);
  void write(const std::uint8_t* frame, std::size_t n, ps_t t);
  // Pushes buffered records to the file (the destructor does this too).
  void flush();

  std::uint64_t records() const { return m_records; }
  const std::string& path() const { return m_path; }

 private:
  void put(const std::uint8_t* p, std::size_t n);

  std::string m_path;
  std::FILE* m_file = nullptr;
  std::uint64_t m_records = 0;
};

}  // namespace wizsim
