// Lint rules for src/ and test/ (`npm run lint`, part of `make test`): ESLint's and typescript-eslint's recommended
// sets, beside the type check (tsconfig.check.json).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/**', 'scripts/**', 'plugin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // An argument or binding kept for its position (`(_req, res) =>`) is named with a leading underscore.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Best-effort clean-up (`try { unlinkSync(x) } catch {}`) is common and deliberate here.
      'no-empty': ['error', { allowEmptyCatch: true }],
      // A security tool matches control characters on purpose: to escape them before they reach a terminal.
      'no-control-regex': 'off'
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' }
  },
  {
    // The audit store is the single writer of its database: outside src/audit, modules keep their entries in a key
    // space the store hands out (AuditStore.keySpace), never through the raw LevelDB handle.
    files: ['src/**/*.ts'],
    ignores: ['src/audit/**'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/audit/level.js'], message: 'Only src/audit opens or holds the audit LevelDB: use AuditStore.keySpace(name) for entries beside the records.' },
          { group: ['**/audit/store.js'], importNames: ['auditDatabase'], message: 'Only src/audit holds the audit LevelDB: use AuditStore.keySpace(name) for entries beside the records.' }
        ]
      }]
    }
  },
  {
    // The policy core does no I/O (the dependency rule, .dependency-cruiser.cjs, keeps it to src/core): of Node's
    // modules it may use only node:net's address checks, which read a string and touch no socket.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'node:net', allowImportNames: ['isIPv4', 'isIPv6'], message: 'src/core does no I/O: only isIPv4/isIPv6 are allowed from node:net.' }]
      }]
    }
  },
  {
    // Tests edit JSON documents (policies, API answers, exported records) field by field, the way an operator does;
    // the product's code reads them through its own types and schemas, where `any` stays refused.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' }
  }
)
