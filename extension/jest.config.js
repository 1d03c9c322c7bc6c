/** Jest runs the pure modules (schema form, formatting, job states, errors) in node:
 * none of them touches JupyterLab or the DOM, which is why they are separate files. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  }
};
