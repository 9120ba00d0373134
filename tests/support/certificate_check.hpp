#pragma once
// `leo check` as the certificate tests run it (tests/certificate_itest.cpp,
// tests/cnn_certificate_itest.cpp): an honest certificate must check, a
// tampered one must fail with one named stderr line.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace leo::test {

// `leo -q check MODEL CERT --json EXTRA`: expects exit 0 and returns the
// JSON (an empty object, the failure recorded, otherwise).
nlohmann::json check_ok(const std::filesystem::path& model, const std::filesystem::path& cert,
                        const std::string& extra = "");

// Writes `tampered` to `scratch`, runs `leo -q check MODEL SCRATCH EXTRA`, and
// expects exit `code` with one stderr line that contains `expected`.
void expect_check_rejects(const std::filesystem::path& model, const nlohmann::json& tampered,
                          const std::filesystem::path& scratch, int code, const std::string& expected,
                          const std::string& extra = "");

}  // namespace leo::test
