// Account rules: e-mail normalisation and the password policy (OWASP ASVS 2.1: length over
// composition, no known-common passwords, not the e-mail).

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 128; // argon2 input stays bounded
export const NAME_MAX_LENGTH = 100;
export const EMAIL_MAX_LENGTH = 254; // RFC 5321 path limit

// A small list of passwords that pass the length rule but appear in every breach corpus.
const COMMON = new Set([
  "password1234", "password12345", "password123456", "123456789012", "1234567890123", "qwertyuiopas",
  "qwerty123456", "iloveyou1234", "administrator", "letmein12345", "welcome12345", "passw0rd1234",
  "111111111111", "000000000000", "abcdefghijkl", "abc123456789", "changeme1234", "football1234",
  "monkey123456", "dragon123456", "correcthorsebatterystaple", "trustno1trustno1", "sunshine1234",
  "princess1234", "superman1234", "baseball1234", "starwars1234", "whatever1234", "qwertyqwerty",
  "asdfghjkl123", "zxcvbnm12345", "1q2w3e4r5t6y", "aaaaaaaaaaaa", "passwordpassword",
]);

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Returns null for a plausible address, otherwise why not (deliberately simple: the mailbox decides). */
export function emailProblem(email: string): string | null {
  if (email.length > EMAIL_MAX_LENGTH) return `An e-mail address has at most ${EMAIL_MAX_LENGTH} characters.`;
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) ? null : `"${email}" is not an e-mail address.`;
}

/** Every reason the password is refused (empty = accepted). */
export function passwordProblems(password: string, email?: string): string[] {
  const problems: string[] = [];
  if ([...password].length < PASSWORD_MIN_LENGTH) problems.push(`Use at least ${PASSWORD_MIN_LENGTH} characters.`);
  if ([...password].length > PASSWORD_MAX_LENGTH) problems.push(`Use at most ${PASSWORD_MAX_LENGTH} characters.`);
  const folded = password.toLowerCase();
  if (COMMON.has(folded.replace(/\s+/g, ""))) problems.push("This password is too common.");
  if (email) {
    const normalized = normalizeEmail(email);
    const local = normalized.split("@")[0] ?? "";
    if (folded === normalized || (local.length >= 4 && folded.includes(local))) problems.push("The password must not contain your e-mail address.");
  }
  if (/^(.)\1+$/.test(password)) problems.push("The password must not be one repeated character.");
  return problems;
}

export function nameProblem(name: string): string | null {
  const trimmed = name.trim();
  if (!trimmed) return "The name must not be empty.";
  return trimmed.length > NAME_MAX_LENGTH ? `The name has at most ${NAME_MAX_LENGTH} characters.` : null;
}
