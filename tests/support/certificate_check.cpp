#include "certificate_check.hpp"

#include <fmt/core.h>
#include <gtest/gtest.h>

#include <fstream>

#include "support.hpp"

namespace leo::test {
namespace {

std::string quoted(const std::filesystem::path& p) { return fmt::format("'{}'", p.string()); }

}  // namespace

nlohmann::json check_ok(const std::filesystem::path& model, const std::filesystem::path& cert,
                        const std::string& extra) {
  auto r = run_leo("-q check " + quoted(model) + " " + quoted(cert) + " --json " + extra);
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  if (r.exit_code != 0) return nlohmann::json::object();
  return nlohmann::json::parse(r.out);
}

void expect_check_rejects(const std::filesystem::path& model, const nlohmann::json& tampered,
                          const std::filesystem::path& scratch, int code, const std::string& expected,
                          const std::string& extra) {
  std::ofstream(scratch, std::ios::binary) << tampered.dump();
  auto r = run_leo("-q check " + quoted(model) + " " + quoted(scratch) + " " + extra);
  EXPECT_EQ(r.exit_code, code) << r.err << r.out;
  EXPECT_NE(r.err.find(expected), std::string::npos) << "expected '" << expected << "' in: " << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
}

}  // namespace leo::test
