#include "base/progress.h"

#include <gtest/gtest.h>

#include <string>

namespace ferrite::base {
namespace {

TEST(ProgressBarTest, PrintsOneFinalLineWhenNotATerminal) {
  testing::internal::CaptureStderr();
  {
    ProgressBar bar("loading weights", 10, "tensors");
    for (int i = 0; i < 10; ++i) bar.advance();
    bar.finish();
    bar.finish();  // idempotent
  }
  const std::string out = testing::internal::GetCapturedStderr();
  if (out.find('\r') != std::string::npos) GTEST_SKIP() << "stderr is a terminal";
  EXPECT_NE(out.find("loading weights"), std::string::npos) << out;
  EXPECT_NE(out.find("100%"), std::string::npos) << out;
  EXPECT_NE(out.find("10/10 tensors"), std::string::npos) << out;
  EXPECT_EQ(out.find('\n'), out.size() - 1) << out;  // exactly one line
}

TEST(ProgressBarTest, EdgeCases) {
  testing::internal::CaptureStderr();
  { ProgressBar zero("nothing", 0); }  // finishes in the destructor
  {
    ProgressBar over("over", 3);
    over.set(7);  // more than total must not break the bar
    over.advance(0);
  }
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("nothing"), std::string::npos);
  EXPECT_NE(out.find("7/3"), std::string::npos) << out;
}

}  // namespace
}  // namespace ferrite::base
