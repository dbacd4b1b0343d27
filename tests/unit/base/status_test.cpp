#include "ferrite/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

namespace ferrite {
namespace {

TEST(StatusTest, OkAndErrors) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.code(), StatusCode::kOk);
  EXPECT_EQ(ok.to_string(), "OK");
  EXPECT_TRUE(ok_status().ok());
  EXPECT_TRUE(Status::ok_status().ok());

  Status nf = not_found("config.json missing");
  EXPECT_FALSE(nf.ok());
  EXPECT_EQ(nf.code(), StatusCode::kNotFound);
  EXPECT_EQ(nf.message(), "config.json missing");
  EXPECT_EQ(nf.to_string(), "NOT_FOUND: config.json missing");

  EXPECT_EQ(invalid_argument("x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(out_of_range("x").code(), StatusCode::kOutOfRange);
  EXPECT_EQ(data_loss("x").code(), StatusCode::kDataLoss);
  EXPECT_EQ(unimplemented("x").code(), StatusCode::kUnimplemented);
  EXPECT_EQ(resource_exhausted("x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(failed_precondition("x").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(internal_error("x").code(), StatusCode::kInternal);
}

TEST(StatusTest, CodeNamesAreDistinct) {
  const StatusCode all[] = {StatusCode::kOk,
                            StatusCode::kInvalidArgument,
                            StatusCode::kNotFound,
                            StatusCode::kOutOfRange,
                            StatusCode::kDataLoss,
                            StatusCode::kUnimplemented,
                            StatusCode::kResourceExhausted,
                            StatusCode::kFailedPrecondition,
                            StatusCode::kAborted,
                            StatusCode::kUnavailable,
                            StatusCode::kDeadlineExceeded,
                            StatusCode::kInternal};
  std::set<std::string> names;
  for (StatusCode c : all) {
    const std::string n = status_code_name(c);
    EXPECT_NE(n, "UNKNOWN");
    EXPECT_TRUE(names.insert(n).second) << n;
  }
  EXPECT_STREQ(status_code_name(StatusCode::kDataLoss), "DATA_LOSS");
}

TEST(StatusTest, WithContext) {
  Status s = data_loss("truncated").with_context("/m/model.safetensors");
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "/m/model.safetensors: truncated");
  EXPECT_TRUE(ok_status().with_context("ignored").ok());
  EXPECT_EQ(ok_status().with_context("ignored").message(), "");
}

Result<int> half(int x) {
  if (x % 2) return invalid_argument("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> quarter(int x) {
  FERRITE_ASSIGN_OR_RETURN(int h, half(x));
  FERRITE_ASSIGN_OR_RETURN(h, half(h));
  return h;
}

Status check_even(int x) {
  FERRITE_RETURN_IF_ERROR(half(x).status());
  return ok_status();
}

TEST(ResultTest, ValueAndStatus) {
  Result<int> r = half(8);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 4);
  EXPECT_EQ(r.value(), 4);
  EXPECT_TRUE(r.status().ok());
  Result<int> e = half(3);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "odd: 3");
}

TEST(ResultTest, Macros) {
  EXPECT_EQ(*quarter(8), 2);
  EXPECT_EQ(quarter(6).status().message(), "odd: 3");
  EXPECT_EQ(quarter(5).status().message(), "odd: 5");
  EXPECT_TRUE(check_even(2).ok());
  EXPECT_EQ(check_even(1).code(), StatusCode::kInvalidArgument);
}

TEST(ResultTest, MoveOnlyAndArrow) {
  Result<std::unique_ptr<std::string>> r = std::make_unique<std::string>("abc");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->get()->size(), 3u);
  std::unique_ptr<std::string> p = std::move(r).value();
  EXPECT_EQ(*p, "abc");
  Result<std::string> s = std::string("hello");
  EXPECT_EQ(s->size(), 5u);
}

}  // namespace
}  // namespace ferrite
