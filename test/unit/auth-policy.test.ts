import { describe, expect, it } from "vitest";
import { emailProblem, nameProblem, normalizeEmail, passwordProblems } from "../../src/domain/auth/policy.ts";

describe("account policy", () => {
  it("normalises e-mail addresses", () => {
    expect(normalizeEmail("  Ada.Lovelace@Example.COM\n")).toBe("ada.lovelace@example.com");
  });

  it("accepts plausible addresses and explains the rest", () => {
    expect(emailProblem("ada@example.com")).toBeNull();
    expect(emailProblem("ada@localhost")).toMatch(/not an e-mail address/);
    expect(emailProblem("no at sign")).toMatch(/not an e-mail address/);
    expect(emailProblem(`${"a".repeat(250)}@example.com`)).toMatch(/at most 254/);
  });

  it("applies the password policy: length, common passwords, the e-mail, repetition", () => {
    expect(passwordProblems("a long and lovely passphrase", "ada@example.com")).toEqual([]);
    expect(passwordProblems("short")).toEqual(["Use at least 12 characters."]);
    expect(passwordProblems("x".repeat(129))).toEqual(["Use at most 128 characters.", "The password must not be one repeated character."]);
    expect(passwordProblems("Password1234")).toEqual(["This password is too common."]);
    expect(passwordProblems("ada@example.com", "Ada@Example.com")).toEqual(["The password must not contain your e-mail address."]);
    expect(passwordProblems("my name is lovelace!", "lovelace@example.com")).toEqual(["The password must not contain your e-mail address."]);
    expect(passwordProblems("aaaaaaaaaaaaaaa")).toEqual(["The password must not be one repeated character."]);
    // length counts characters, not UTF-16 units
    expect(passwordProblems("🔒🔒🔒🔒🔒🔒🔒🔒🔒🔒🔒")).toContain("Use at least 12 characters.");
  });

  it("requires a non-empty name of at most 100 characters", () => {
    expect(nameProblem(" Ada ")).toBeNull();
    expect(nameProblem("   ")).toMatch(/must not be empty/);
    expect(nameProblem("x".repeat(101))).toMatch(/at most 100/);
  });
});
