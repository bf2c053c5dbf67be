/**
 * An error the person who typed the command caused and can fix. Its message is shown to them as
 * is (ephemerally), so it says what is wrong and what to do. Everything else is an internal error:
 * logged in full, answered with a generic apology and a reference.
 */
export class UserFacingError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UserFacingError';
  }
}
