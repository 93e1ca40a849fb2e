// wizsim-docgen: writes or checks the documentation generated from the code's tables.
//   wizsim-docgen registers                  print docs/registers.md
//   wizsim-docgen check-registers FILE       exit 1 if FILE differs from the generated text
//   wizsim-docgen update-deviations FILE     rewrite the quirk table between the markers in FILE
//   wizsim-docgen check-deviations FILE      exit 1 if that table is stale or the markers are missing
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "wizsim/docgen.hpp"

namespace {

bool slurp(const std::string& path, std::string& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  out = ss.str();
  return true;
}

// Replaces the text between the quirk markers; false if the markers are missing.
bool splice(std::string& doc, const std::string& table) {
  const std::string b = wizsim::quirks_begin_marker, e = wizsim::quirks_end_marker;
  const auto i = doc.find(b);
  const auto j = doc.find(e);
  if (i == std::string::npos || j == std::string::npos || j < i) return false;
  doc = doc.substr(0, i + b.size()) + "\n" + table + doc.substr(j);
  return true;
}

int usage() {
  std::cerr << "usage: wizsim-docgen registers | check-registers FILE | update-deviations FILE | "
               "check-deviations FILE\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string cmd = argv[1];
  if (cmd == "registers") {
    std::cout << wizsim::registers_markdown();
    return 0;
  }
  if (argc < 3) return usage();
  const std::string path = argv[2];
  std::string doc;
  if (!slurp(path, doc)) {
    std::cerr << "wizsim-docgen: cannot read " << path << "\n";
    return 1;
  }
  if (cmd == "check-registers") {
    if (doc == wizsim::registers_markdown()) return 0;
    std::cerr << path << " is stale: regenerate it with `cmake --build build --target docs`\n";
    return 1;
  }
  std::string updated = doc;
  if (!splice(updated, wizsim::quirks_markdown())) {
    std::cerr << path << ": quirk table markers missing (" << wizsim::quirks_begin_marker << " ... "
              << wizsim::quirks_end_marker << ")\n";
    return 1;
  }
  if (cmd == "check-deviations") {
    if (updated == doc) return 0;
    std::cerr << path << ": quirk table is stale: regenerate it with `cmake --build build --target docs`\n";
    return 1;
  }
  if (cmd == "update-deviations") {
    std::ofstream f(path, std::ios::binary);
    f << updated;
    return f ? 0 : 1;
  }
  return usage();
}
