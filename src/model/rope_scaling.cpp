#include "model/rope_scaling.h"

#include <algorithm>
#include <cmath>

namespace ferrite::model {

namespace {

// Frequencies base^(-2i/dim) computed as transformers does: the exponent in f32, the power in f32.
std::vector<float> base_inv_freq(double base, std::int64_t dim) {
  std::vector<float> f(static_cast<std::size_t>(dim / 2));
  for (std::int64_t i = 0; i < dim / 2; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(dim);
    f[static_cast<std::size_t>(i)] = 1.0f / std::pow(static_cast<float>(base), e);
  }
  return f;
}

double yarn_get_mscale(double scale, double mscale) {
  if (scale <= 1.0) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

}  // namespace

RotaryEmbedding::RotaryEmbedding(const ModelConfig& config) : config_(config), rot_dim_(config.rotary_dim()) {
  inv_freq_ = compute_inv_freq(0);
  const RopeScaling& rs = config_.rope_scaling;
  if (rs.type == RopeType::kYarn) {
    double factor = rs.factor;
    if (rs.original_max_position_embeddings > 0)
      factor = static_cast<double>(config_.max_position_embeddings) / static_cast<double>(rs.original_max_position_embeddings);
    if (rs.attention_factor) {
      attention_factor_ = static_cast<float>(*rs.attention_factor);
    } else if (rs.mscale && rs.mscale_all_dim && *rs.mscale != 0 && *rs.mscale_all_dim != 0) {
      attention_factor_ = static_cast<float>(yarn_get_mscale(factor, *rs.mscale) / yarn_get_mscale(factor, *rs.mscale_all_dim));
    } else {
      attention_factor_ = static_cast<float>(yarn_get_mscale(factor, 1.0));
    }
  }
}

std::vector<float> RotaryEmbedding::compute_inv_freq(std::int64_t seq_len) const {
  const RopeScaling& rs = config_.rope_scaling;
  const std::int64_t dim = rot_dim_;
  double base = config_.rope_theta;
  switch (rs.type) {
    case RopeType::kDefault: return base_inv_freq(base, dim);
    case RopeType::kLinear: {
      auto f = base_inv_freq(base, dim);
      for (float& x : f) x = static_cast<float>(x / rs.factor);
      return f;
    }
    case RopeType::kDynamic: {
      const auto max_pos = config_.max_position_embeddings;
      if (seq_len <= max_pos) return base_inv_freq(base, dim);
      const double s = static_cast<double>(seq_len);
      base = base * std::pow(rs.factor * s / static_cast<double>(max_pos) - (rs.factor - 1.0),
                             static_cast<double>(dim) / static_cast<double>(dim - 2));
      return base_inv_freq(base, dim);
    }
    case RopeType::kLlama3: {
      auto f = base_inv_freq(base, dim);
      const double old_ctx = static_cast<double>(rs.original_max_position_embeddings);
      const double low_wavelen = old_ctx / rs.low_freq_factor;
      const double high_wavelen = old_ctx / rs.high_freq_factor;
      for (float& x : f) {
        const double wavelen = 2.0 * M_PI / x;
        const float scaled = wavelen > low_wavelen ? static_cast<float>(x / rs.factor) : x;
        if (wavelen < high_wavelen || wavelen > low_wavelen) {
          x = scaled;
        } else {
          const double smooth = (old_ctx / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
          x = static_cast<float>((1.0 - smooth) * scaled / rs.factor + smooth * scaled);
        }
      }
      return f;
    }
    case RopeType::kYarn: {
      double factor = rs.factor;
      std::int64_t orig = config_.max_position_embeddings;
      if (rs.original_max_position_embeddings > 0) {
        orig = rs.original_max_position_embeddings;
        factor = static_cast<double>(config_.max_position_embeddings) / static_cast<double>(orig);
      }
      auto correction_dim = [&](double rotations) {
        return (static_cast<double>(dim) * std::log(static_cast<double>(orig) / (rotations * 2.0 * M_PI))) /
               (2.0 * std::log(base));
      };
      double low = correction_dim(rs.beta_fast);
      double high = correction_dim(rs.beta_slow);
      if (rs.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
      }
      low = std::max(low, 0.0);
      high = std::min(high, static_cast<double>(dim - 1));
      if (low == high) high += 0.001;
      std::vector<float> f(static_cast<std::size_t>(dim / 2));
      for (std::size_t i = 0; i < f.size(); ++i) {
        const float pos_freq = std::pow(static_cast<float>(base), static_cast<float>(2 * i) / static_cast<float>(dim));
        const float extrapolation = 1.0f / pos_freq;
        const float interpolation = 1.0f / (static_cast<float>(factor) * pos_freq);
        const float ramp = std::clamp(static_cast<float>((static_cast<double>(i) - low) / (high - low)), 0.0f, 1.0f);
        const float extrapolation_factor = 1.0f - ramp;
        f[i] = interpolation * (1.0f - extrapolation_factor) + extrapolation * extrapolation_factor;
      }
      return f;
    }
  }
  return base_inv_freq(base, dim);
}

void RotaryEmbedding::cos_sin(std::int64_t position, std::int64_t seq_len, float* cos, float* sin) const {
  std::vector<float> dynamic;
  const std::vector<float>* inv = &inv_freq_;
  if (config_.rope_scaling.type == RopeType::kDynamic && seq_len > config_.max_position_embeddings) {
    dynamic = compute_inv_freq(seq_len);
    inv = &dynamic;
  }
  const float p = static_cast<float>(position);
  for (std::size_t i = 0; i < inv->size(); ++i) {
    const float angle = (*inv)[i] * p;  // f32 product, as transformers computes it
    cos[i] = static_cast<float>(std::cos(static_cast<double>(angle))) * attention_factor_;
    sin[i] = static_cast<float>(std::sin(static_cast<double>(angle))) * attention_factor_;
  }
}

}  // namespace ferrite::model
