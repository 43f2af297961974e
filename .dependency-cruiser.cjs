// The shape of src/ that `make test` keeps (npx depcruise src): the policy core imports nothing outside src/core
// (so it does no I/O), and no folder of src/ depends on another that depends back on it.
module.exports = {
  forbidden: [
    {
      name: 'core-imports-only-core',
      comment: 'src/core is the pure decision (facts in, decision out): it may import only src/core. ' +
        'The one exception is node:net for isIPv4/isIPv6 (src/core/cidr.ts), which do no I/O; eslint allows only those names.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { pathNot: ['^src/core/', '^net$'] }
    },
    {
      name: 'no-folder-cycles',
      comment: 'Folders of src/ form no cycle: move what both sides need into the folder below them (often src/core).',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' }
  }
}
