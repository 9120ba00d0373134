#pragma once
// The compress part of a certificate (checker/certificate.hpp,
// docs/certificates.md): what happened to each original hidden unit, the
// rewrites in the order applied with what the checker needs to replay them,
// and the written model's digest.
#include "leo/checker/certificate.hpp"
#include "leo/compress/compress.hpp"
#include "leo/stability/verdict.hpp"

namespace leo {

// `analysis` is the analysis of the original network the compression used,
// `result` the compression written (its steps and kept units), `written` the
// model as written (its digest ties the certificate to the file).
cert::CompressClaims compress_claims(const Analysis& analysis, const CompressResult& result, const Network& written);

}  // namespace leo
