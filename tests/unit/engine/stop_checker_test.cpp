#include <gtest/gtest.h>

#include "engine/stop_checker.h"

namespace ferrite::engine {
namespace {

// Feeds deltas one by one; returns (all text sent, the stop string if any).
std::pair<std::string, std::string> run(std::vector<std::string> stops, bool include, const std::vector<std::string>& deltas) {
  StopChecker c(std::move(stops), include);
  std::string sent;
  for (const auto& d : deltas) {
    auto s = c.feed(d);
    sent += s.text;
    if (s.stopped) return {sent, *s.stopped};
  }
  return {sent + c.flush(), ""};
}

TEST(StopChecker, NoStopsPassesEverything) {
  EXPECT_EQ(run({}, false, {"a", "b", "c"}), std::make_pair(std::string("abc"), std::string()));
}

TEST(StopChecker, StopStringAcrossDeltasIsExcluded) {
  EXPECT_EQ(run({"END"}, false, {"hello E", "N", "D and more"}), std::make_pair(std::string("hello "), std::string("END")));
}

TEST(StopChecker, IncludeStopString) {
  EXPECT_EQ(run({"END"}, true, {"hello E", "ND!"}), std::make_pair(std::string("hello END"), std::string("END")));
}

TEST(StopChecker, HeldBackTextIsReleasedWhenItCannotMatch) {
  StopChecker c({"abc"}, false);
  EXPECT_EQ(c.feed("xa").text, "x");   // "a" might start "abc"
  EXPECT_EQ(c.feed("b").text, "");     // "ab" still might
  EXPECT_EQ(c.feed("d").text, "abd");  // now it cannot
  EXPECT_EQ(c.flush(), "");
}

TEST(StopChecker, EarliestMatchWinsAndLongerOnTie) {
  EXPECT_EQ(run({"b", "ab"}, false, {"xxab"}), std::make_pair(std::string("xx"), std::string("ab")));
  EXPECT_EQ(run({"cd", "bcx"}, false, {"abcd"}), std::make_pair(std::string("ab"), std::string("cd")));
}

TEST(StopChecker, MultiByteStopString) {
  EXPECT_EQ(run({"é!"}, false, {"caf\xc3", "\xa9", "! yes"}), std::make_pair(std::string("caf"), std::string("é!")));
}

TEST(StopChecker, FlushReturnsHeldBackTail) {
  StopChecker c({"STOP"}, false);
  EXPECT_EQ(c.feed("go ST").text, "go ");
  EXPECT_EQ(c.flush(), "ST");
}

}  // namespace
}  // namespace ferrite::engine
