#include "leo/compress/certificate.hpp"

namespace leo {

cert::CompressClaims compress_claims(const Analysis& analysis, const CompressResult& result, const Network& written) {
  cert::CompressClaims c;
  std::vector<std::string> fates;
  for (const auto& layer : analysis.layers) {
    std::string f;
    for (const UnitVerdict& v : layer)
      f.push_back(v.status == Status::inactive ? 'i' : v.status == Status::active ? 'f' : 'o');
    fates.push_back(std::move(f));
  }
  bool dead = false;
  for (const RewriteStep& s : result.steps) {
    dead = dead || s.kind == RewriteKind::dead_layer;
    cert::Rewrite w;
    w.kind = to_string(s.kind);
    w.layer = s.layer;
    w.units = s.removed;
    w.into = s.into;
    w.coefficient = s.coefficient;
    w.basis = s.basis;
    for (Eigen::Index k = 0; k < s.alpha.cols(); ++k)
      w.alpha.emplace_back(s.alpha.col(k).data(), s.alpha.col(k).data() + s.alpha.rows());
    c.rewrites.push_back(std::move(w));
  }
  if (!dead)
    for (const KeptLayer& k : result.kept_units())
      for (int u : k.units) fates[static_cast<std::size_t>(k.original_layer)][static_cast<std::size_t>(u)] = 'k';
  c.fates = std::move(fates);
  c.output_digest = cert::digest(written);
  return c;
}

}  // namespace leo
