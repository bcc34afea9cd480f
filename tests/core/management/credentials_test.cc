#include "switchyard/management/credentials.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace switchyard {
namespace {

namespace fs = std::filesystem;

TEST(Credentials, PasswordHashIsSaltedSlowAndVerifies) {
  const std::string a = hashPassword("correct horse");
  const std::string b = hashPassword("correct horse");
  EXPECT_NE(a, b);  // salted
  EXPECT_EQ(a.rfind("pbkdf2-sha256$210000$", 0), 0u);
  EXPECT_EQ(a.find("correct horse"), std::string::npos);
  EXPECT_TRUE(verifyPassword("correct horse", a));
  EXPECT_FALSE(verifyPassword("correct horsE", a));
  EXPECT_FALSE(verifyPassword("correct horse", "pbkdf2-sha256$x$00$00"));
  EXPECT_FALSE(verifyPassword("correct horse", ""));
  EXPECT_FALSE(verifyPassword("correct horse", "plain"));
}

TEST(Credentials, SessionTokensAreSignedAndExpire) {
  SessionSigner signer(std::string(64, 'k'));
  const std::string token = signer.sign(SessionClaims{"usr_1", 100, 200});
  auto claims = signer.verify(token, 150);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->user_id, "usr_1");
  EXPECT_FALSE(signer.verify(token, 200));                               // expired
  EXPECT_FALSE(SessionSigner(std::string(64, 'x')).verify(token, 150));  // another secret
  std::string tampered = token;
  tampered[2] = tampered[2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(signer.verify(tampered, 150));
  EXPECT_FALSE(signer.verify("", 150));
  EXPECT_FALSE(signer.verify("...", 150));
}

TEST(Credentials, SessionSecretIsGeneratedOnceOwnerOnly) {
  char tmpl[] = "/tmp/sy-secret-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const fs::path dir = fs::path(tmpl) / "data";
  ::unsetenv("SWITCHYARD_SESSION_SECRET");
  const std::string first = loadSessionSecret(dir);
  EXPECT_GE(first.size(), 32u);
  EXPECT_EQ(loadSessionSecret(dir), first);
  EXPECT_EQ(fs::status(dir / "session.secret").permissions() &
                (fs::perms::group_all | fs::perms::others_all),
            fs::perms::none);
  fs::remove_all(tmpl);
}

TEST(Credentials, AppKeysShowAPrefixAndAreStoredAsTheirHash) {
  const NewAppKey k = generateAppKey();
  EXPECT_EQ(k.key.rfind(k.prefix + "-", 0), 0u);
  EXPECT_EQ(k.prefix.size(), 11u);
  EXPECT_EQ(k.hash, sha256Hex(k.key));
  EXPECT_NE(generateAppKey().key, k.key);
}

}  // namespace
}  // namespace switchyard
