#include "base/mmap_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "unit/model/safetensors_writer.h"

namespace ferrite::base {
namespace {

TEST(MappedFileTest, MapsContents) {
  test::TempDir d;
  std::string bytes(10000, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  test::write_file(d.file("a.bin"), bytes);
  auto f = MappedFile::open(d.file("a.bin"));
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ((*f)->size(), bytes.size());
  EXPECT_EQ((*f)->path(), d.file("a.bin"));
  EXPECT_EQ(std::memcmp((*f)->data(), bytes.data(), bytes.size()), 0);
  // The mapping stays valid after the file is removed (the fd is closed at open).
  ::unlink(d.file("a.bin").c_str());
  EXPECT_EQ((*f)->data()[9999], static_cast<std::uint8_t>(9999 * 7));
}

TEST(MappedFileTest, EmptyFile) {
  test::TempDir d;
  test::write_file(d.file("empty"), "");
  auto f = MappedFile::open(d.file("empty"));
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ((*f)->size(), 0u);
}

TEST(MappedFileTest, Errors) {
  test::TempDir d;
  auto missing = MappedFile::open(d.file("nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(d.file("nope")), std::string::npos);
  EXPECT_NE(missing.status().message().find("No such file"), std::string::npos) << missing.status().message();

  auto dir = MappedFile::open(d.path());
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.status().message().find("not a regular file"), std::string::npos) << dir.status().message();
}

TEST(ReadFileTest, ReadsAndReportsErrors) {
  test::TempDir d;
  test::write_file(d.file("t.txt"), std::string("line\0two\n", 9));
  auto r = read_file(d.file("t.txt"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, std::string("line\0two\n", 9));
  auto missing = read_file(d.file("nope.txt"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope.txt"), std::string::npos);
  test::write_file(d.file("empty.txt"), "");
  auto empty = read_file(d.file("empty.txt"));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
}

TEST(ReadFileTest, DirectoryIsAnError) {
  test::TempDir d;
  auto r = read_file(d.path());
  EXPECT_FALSE(r.ok()) << "read_file of a directory returned OK with " << (r.ok() ? r->size() : 0) << " bytes";
}

}  // namespace
}  // namespace ferrite::base
