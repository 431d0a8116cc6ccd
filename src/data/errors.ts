/**
 * A failure the user can act on (bad path, corrupt file, wrong flag). The CLI prints
 * `robustlab: <message>` without a stack trace and exits 1; anything else is a bug.
 */
export class RobustlabError extends Error {
  override name = 'RobustlabError';

  constructor(message: string, options?: ErrorOptions) {
    // Always one line, so CLI output stays readable and grep-able.
    super(message.replace(/\s*\n\s*/g, ' ').trim(), options);
  }
}
