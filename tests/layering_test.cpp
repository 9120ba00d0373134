// The folders of src/leo/ form layers with no back-edges (docs/layers.md):
// a file of folder X includes only headers of X's level or lower levels. The
// order is read from docs/layers.md, so the page and the check cannot drift.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support.hpp"

namespace fs = std::filesystem;

namespace {

// folder -> level, from the ```layers block of docs/layers.md.
std::map<std::string, int> read_levels(const fs::path& doc) {
  std::ifstream in(doc);
  std::map<std::string, int> levels;
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (!inside) {
      inside = line == "```layers";
      continue;
    }
    if (line.rfind("```", 0) == 0) break;
    std::istringstream words(line);
    int level = 0;
    std::string folder;
    if (!(words >> level)) continue;
    while (words >> folder) levels[folder] = level;
  }
  return levels;
}

// Every include of `leo/Y/...` in src/leo/X/**.{hpp,cpp} that breaks the
// order, as "file: includes leo/Y (level a > b)"; unknown folders too.
std::vector<std::string> back_edges(const fs::path& src, const std::map<std::string, int>& levels) {
  std::vector<std::string> problems;
  const std::regex include(R"(^\s*#\s*include\s*[<"]leo/([A-Za-z0-9_]+)/)");
  for (const auto& entry : fs::recursive_directory_iterator(src)) {
    if (!entry.is_regular_file()) continue;
    const auto ext = entry.path().extension();
    if (ext != ".hpp" && ext != ".cpp" && ext != ".h") continue;
    const fs::path rel = fs::relative(entry.path(), src);
    if (rel.begin() == rel.end() || std::next(rel.begin()) == rel.end()) continue;  // a file directly in src/leo
    const std::string folder = rel.begin()->string();
    auto own = levels.find(folder);
    if (own == levels.end()) {
      problems.push_back(rel.string() + ": folder '" + folder + "' is not in docs/layers.md");
      continue;
    }
    std::ifstream in(entry.path());
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
      if (!std::regex_search(line, m, include)) continue;
      const std::string target = m[1];
      auto other = levels.find(target);
      if (other == levels.end())
        problems.push_back(rel.string() + ": includes leo/" + target + ", a folder not in docs/layers.md");
      else if (other->second > own->second)
        problems.push_back(rel.string() + ": includes leo/" + target + " (level " + std::to_string(other->second) +
                           " above " + folder + "'s " + std::to_string(own->second) + ")");
    }
  }
  return problems;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

TEST(Layering, DocsListTheFolderOrder) {
  auto levels = read_levels(fs::path(LEO_SOURCE_DIR) / "docs" / "layers.md");
  ASSERT_FALSE(levels.empty()) << "no ```layers block in docs/layers.md";
  EXPECT_LT(levels.at("util"), levels.at("network"));
  EXPECT_LT(levels.at("bounds"), levels.at("milp"));
  EXPECT_LT(levels.at("milp"), levels.at("stability"));
  EXPECT_LT(levels.at("stability"), levels.at("compress"));
  EXPECT_LT(levels.at("verify"), levels.at("cli"));
}

TEST(Layering, NoFolderIncludesAHigherOne) {
  auto levels = read_levels(fs::path(LEO_SOURCE_DIR) / "docs" / "layers.md");
  ASSERT_FALSE(levels.empty());
  auto problems = back_edges(fs::path(LEO_SOURCE_DIR) / "src" / "leo", levels);
  EXPECT_TRUE(problems.empty()) << join(problems);
}

TEST(Layering, TheCheckFindsABackEdge) {
  // A tiny tree with milp including stability (the cycle issue 13 found).
  fs::path dir = leo::test::temp_dir("layering");
  fs::create_directories(dir / "milp");
  fs::create_directories(dir / "stability");
  std::ofstream(dir / "milp" / "exact.cpp") << "#include \"leo/milp/cbc.hpp\"\n#include \"leo/stability/verdict.hpp\"\n";
  std::ofstream(dir / "stability" / "cascade.cpp") << "#include \"leo/milp/cbc.hpp\"\n";
  std::map<std::string, int> levels{{"milp", 4}, {"stability", 5}};
  auto problems = back_edges(dir, levels);
  ASSERT_EQ(problems.size(), 1u) << join(problems);
  EXPECT_NE(problems[0].find("milp/exact.cpp: includes leo/stability"), std::string::npos) << problems[0];
  // An unknown folder is reported too.
  fs::create_directories(dir / "extra");
  std::ofstream(dir / "extra" / "x.hpp") << "#pragma once\n";
  EXPECT_EQ(back_edges(dir, levels).size(), 2u);
  fs::remove_all(dir);
}

}  // namespace
