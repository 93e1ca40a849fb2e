// JUnit XML (the Jenkins/GitLab/GitHub dialect, see tests/junit.xsd): one <testsuite> per scenario folder,
// one <testcase> per scenario; expectation failures are <failure>, crashes and time-outs <error>.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "cli_report.hpp"

namespace wizsim::cli {

struct junit_info {
  std::string timestamp;  // ISO 8601 local time without zone ("2026-11-24T20:40:40"); "" = omitted
  std::string hostname;   // "" = omitted
};

std::string junit_xml(const std::vector<scenario_report>& reports, const junit_info& info);

// Text as XML character data or attribute value: markup characters escaped, characters XML 1.0 forbids
// (most C0 controls) and invalid UTF-8 bytes replaced by '?', so any log or crash output stays well-formed.
// In an attribute, newlines and tabs become character references so they survive normalisation.
std::string xml_escape(std::string_view text, bool attribute = false);

// "2026-11-24T20:40:40" for now.
std::string iso_timestamp_now();

}  // namespace wizsim::cli
