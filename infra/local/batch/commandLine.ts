/**
 * Splits a task command line into arguments the way a POSIX shell would tokenize it (quotes and
 * backslashes), without running a shell: Batch runs command lines directly, so shell features
 * such as `$VAR`, pipes and `&&` need an explicit `/bin/sh -c "..."`, on Batch and here alike.
 */
export function splitCommandLine(commandLine: string): string[] {
  const args: string[] = [];
  let current = '';
  let inToken = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < commandLine.length; i++) {
    const ch = commandLine[i]!;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else current += ch;
      continue;
    }
    if (quote === '"') {
      if (ch === '"') quote = undefined;
      else if (ch === '\\' && i + 1 < commandLine.length && '"\\$`\n'.includes(commandLine[i + 1]!))
        current += commandLine[++i];
      else current += ch;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      inToken = true;
    } else if (ch === '\\' && i + 1 < commandLine.length) {
      current += commandLine[++i];
      inToken = true;
    } else if (/\s/.test(ch)) {
      if (inToken) args.push(current);
      current = '';
      inToken = false;
    } else {
      current += ch;
      inToken = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in the command line`);
  if (inToken) args.push(current);
  return args;
}
