import { RESTJSONErrorCodes } from 'discord-api-types/v10';

/** One entry of Discord's nested `errors` object: `{ code: 'BASE_TYPE_MAX_LENGTH', message: '…' }`. */
export interface FieldError {
  code: string;
  message: string;
}

/** Discord's nested error tree: keys are field names or array indexes, leaves hold `_errors`. */
export interface ErrorTree {
  _errors?: FieldError[];
  [key: string]: ErrorTree | FieldError[] | undefined;
}

/** Collects field errors under their paths and renders them the way Discord's 50035 body does. */
export class FormErrors {
  readonly tree: ErrorTree = {};
  #count = 0;

  /** Records an error at `path` (e.g. `['embeds', 0, 'title']`). */
  add(path: readonly (string | number)[], code: string, message: string): void {
    let node: ErrorTree = this.tree;
    for (const key of path) {
      const k = String(key);
      const child = node[k];
      if (child === undefined || Array.isArray(child)) {
        const created: ErrorTree = {};
        node[k] = created;
        node = created;
      } else {
        node = child;
      }
    }
    (node._errors ??= []).push({ code, message });
    this.#count += 1;
  }

  /** How many errors were recorded. */
  get count(): number {
    return this.#count;
  }
}

/** Discord's JSON error body. */
export interface ApiErrorBody {
  code: number;
  message: string;
  errors?: ErrorTree;
}

/** An error answer to the bot: HTTP status plus Discord's `{code, message, errors?}` body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly errors?: ErrorTree,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /** The body Discord would send. */
  toBody(): ApiErrorBody {
    return this.errors
      ? { code: this.code, message: this.message, errors: this.errors }
      : { code: this.code, message: this.message };
  }
}

/** 400 / 50035 Invalid Form Body with the collected field errors. */
export function invalidFormBody(errors: FormErrors): ApiError {
  return new ApiError(400, RESTJSONErrorCodes.InvalidFormBodyOrContentType, 'Invalid Form Body', errors.tree);
}

/** 404 with one of Discord's "Unknown …" codes. */
export function unknown(code: RESTJSONErrorCodes, what: string): ApiError {
  return new ApiError(404, code, `Unknown ${what}`);
}

/** 403 / 50001 Missing Access: the bot cannot see the channel at all. */
export function missingAccess(): ApiError {
  return new ApiError(403, RESTJSONErrorCodes.MissingAccess, 'Missing Access');
}

/** 403 / 50013 Missing Permissions: the bot sees the channel but lacks a needed permission. */
export function missingPermissions(): ApiError {
  return new ApiError(403, RESTJSONErrorCodes.MissingPermissions, 'Missing Permissions');
}
