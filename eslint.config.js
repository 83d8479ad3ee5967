// ESLint with the TypeScript rules, over the sources and tests (compiled output and fixtures left out).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.venv/', 'test/fixtures/', '.temporal/', '.run/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
    rules: {
      // The JUnit writer strips control characters that XML forbids, and its test looks for them.
      'no-control-regex': 'off',
      // `_name` marks a parameter a signature needs and the body does not use; rest siblings drop keys on purpose.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // Tests read the tools' JSON outputs as they come.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
