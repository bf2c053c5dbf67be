import type { APIAllowedMentions, APIEmbed } from 'discord-api-types/v10';
import { AllowedMentionsTypes, MessageFlags, RESTJSONErrorCodes } from 'discord-api-types/v10';
import { ApiError, FormErrors, invalidFormBody } from './api-error';

/** Discord's message and embed limits, in characters (Unicode code points). */
export const MESSAGE_LIMITS = {
  content: 2000,
  embeds: 10,
  embedTitle: 256,
  embedDescription: 4096,
  embedFields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footerText: 2048,
  authorName: 256,
  embedTotal: 6000,
  nonce: 25,
  allowedMentionIds: 100,
} as const;

/** A message body that passed validation, normalised. */
export interface ValidMessageBody {
  content?: string;
  embeds?: APIEmbed[];
  nonce?: string | number;
  enforceNonce: boolean;
  allowedMentions?: APIAllowedMentions;
  flags?: number;
  tts?: boolean;
  components?: unknown[];
  hasAttachments: boolean;
}

/** Where the body is used: which flags are allowed and whether an empty body is acceptable. */
export interface MessageBodyContext {
  /** Interaction replies and follow-ups may set the Ephemeral flag; channel messages may not. */
  allowEphemeral: boolean;
  /** An edit may leave fields out; a new message must have something to show. */
  isEdit: boolean;
  /** Files were uploaded with a multipart body. */
  fileCount: number;
}

const CHANNEL_MESSAGE_FLAGS =
  MessageFlags.SuppressEmbeds | MessageFlags.SuppressNotifications | MessageFlags.IsComponentsV2;

/** Character count as Discord counts it (code points, not UTF-16 units). */
export function charCount(text: string): number {
  return Array.from(text).length;
}

/** A value as it would appear in one of Discord's error messages. */
export function show(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? 'undefined');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function maxLength(max: number): [string, string] {
  return ['BASE_TYPE_MAX_LENGTH', `Must be ${max} or fewer in length.`];
}

function checkString(
  errors: FormErrors,
  path: (string | number)[],
  value: unknown,
  max: number,
  { required = false }: { required?: boolean } = {},
): number {
  if (value === undefined || value === null) {
    if (required) errors.add(path, 'BASE_TYPE_REQUIRED', 'This field is required');
    return 0;
  }
  if (typeof value !== 'string') {
    errors.add(path, 'STRING_TYPE_CONVERT', `Could not interpret "${JSON.stringify(value)}" as string.`);
    return 0;
  }
  const n = charCount(value);
  if (required && value.trim() === '') errors.add(path, 'BASE_TYPE_REQUIRED', 'This field is required');
  else if (n > max) errors.add(path, ...maxLength(max));
  return n;
}

function checkUrl(
  errors: FormErrors,
  path: (string | number)[],
  value: unknown,
  { required = false, allowAttachment = false } = {},
): void {
  if (value === undefined || value === null) {
    if (required) errors.add(path, 'BASE_TYPE_REQUIRED', 'This field is required');
    return;
  }
  if (typeof value !== 'string') {
    errors.add(path, 'URL_TYPE_INVALID_URL', 'Not a well formed URL.');
    return;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    errors.add(path, 'URL_TYPE_INVALID_URL', 'Not a well formed URL.');
    return;
  }
  const schemes = allowAttachment ? ['http:', 'https:', 'attachment:'] : ['http:', 'https:'];
  if (!schemes.includes(url.protocol)) {
    const allowed = schemes.map((s) => `'${s.slice(0, -1)}'`).join(', ');
    errors.add(
      path,
      'URL_TYPE_INVALID_SCHEME',
      `Scheme "${url.protocol.slice(0, -1)}" is not supported. Scheme must be one of (${allowed}).`,
    );
  }
}

/** Validates one embed and returns the characters it adds to the 6,000 total. */
function checkEmbed(errors: FormErrors, path: (string | number)[], embed: unknown): number {
  if (!isRecord(embed)) {
    errors.add(path, 'DICT_TYPE_CONVERT', 'Only dictionaries may be used in a DictType');
    return 0;
  }
  let total = 0;
  total += checkString(errors, [...path, 'title'], embed.title, MESSAGE_LIMITS.embedTitle);
  total += checkString(errors, [...path, 'description'], embed.description, MESSAGE_LIMITS.embedDescription);
  checkUrl(errors, [...path, 'url'], embed.url);
  if (embed.timestamp !== undefined && embed.timestamp !== null) {
    if (typeof embed.timestamp !== 'string' || Number.isNaN(Date.parse(embed.timestamp))) {
      errors.add(
        [...path, 'timestamp'],
        'DATE_TIME_TYPE_PARSE',
        `Could not parse ${show(embed.timestamp)}. Should be ISO8601.`,
      );
    }
  }
  if (embed.color !== undefined && embed.color !== null) {
    if (typeof embed.color !== 'number' || !Number.isInteger(embed.color) || embed.color < 0) {
      errors.add([...path, 'color'], 'NUMBER_TYPE_COERCE', `Value "${show(embed.color)}" is not int.`);
    } else if (embed.color > 0xffffff) {
      errors.add(
        [...path, 'color'],
        'NUMBER_TYPE_MAX',
        'int value should be less than or equal to 16777215.',
      );
    }
  }
  if (embed.footer !== undefined && embed.footer !== null) {
    if (!isRecord(embed.footer))
      errors.add([...path, 'footer'], 'DICT_TYPE_CONVERT', 'Only dictionaries may be used in a DictType');
    else {
      total += checkString(
        errors,
        [...path, 'footer', 'text'],
        embed.footer.text,
        MESSAGE_LIMITS.footerText,
        { required: true },
      );
      checkUrl(errors, [...path, 'footer', 'icon_url'], embed.footer.icon_url, { allowAttachment: true });
    }
  }
  for (const key of ['image', 'thumbnail'] as const) {
    const media = embed[key];
    if (media === undefined || media === null) continue;
    if (!isRecord(media))
      errors.add([...path, key], 'DICT_TYPE_CONVERT', 'Only dictionaries may be used in a DictType');
    else checkUrl(errors, [...path, key, 'url'], media.url, { required: true, allowAttachment: true });
  }
  if (embed.author !== undefined && embed.author !== null) {
    if (!isRecord(embed.author))
      errors.add([...path, 'author'], 'DICT_TYPE_CONVERT', 'Only dictionaries may be used in a DictType');
    else {
      total += checkString(
        errors,
        [...path, 'author', 'name'],
        embed.author.name,
        MESSAGE_LIMITS.authorName,
        { required: true },
      );
      checkUrl(errors, [...path, 'author', 'url'], embed.author.url);
      checkUrl(errors, [...path, 'author', 'icon_url'], embed.author.icon_url, { allowAttachment: true });
    }
  }
  if (embed.fields !== undefined && embed.fields !== null) {
    if (!Array.isArray(embed.fields))
      errors.add([...path, 'fields'], 'LIST_TYPE_CONVERT', 'Only iterables may be used in a ListType');
    else {
      if (embed.fields.length > MESSAGE_LIMITS.embedFields)
        errors.add([...path, 'fields'], ...maxLength(MESSAGE_LIMITS.embedFields));
      embed.fields.forEach((field: unknown, i) => {
        const fieldPath = [...path, 'fields', i];
        if (!isRecord(field)) {
          errors.add(fieldPath, 'DICT_TYPE_CONVERT', 'Only dictionaries may be used in a DictType');
          return;
        }
        total += checkString(errors, [...fieldPath, 'name'], field.name, MESSAGE_LIMITS.fieldName, {
          required: true,
        });
        total += checkString(errors, [...fieldPath, 'value'], field.value, MESSAGE_LIMITS.fieldValue, {
          required: true,
        });
        if (field.inline !== undefined && typeof field.inline !== 'boolean') {
          errors.add([...fieldPath, 'inline'], 'BASE_TYPE_BOOLEAN', 'Must be either true or false.');
        }
      });
    }
  }
  return total;
}

function checkAllowedMentions(errors: FormErrors, value: unknown): APIAllowedMentions | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) {
    errors.add(['allowed_mentions'], 'DICT_TYPE_CONVERT', 'Only dictionaries may be used in a DictType');
    return undefined;
  }
  const result: APIAllowedMentions = {};
  if (value.parse !== undefined) {
    if (!Array.isArray(value.parse))
      errors.add(
        ['allowed_mentions', 'parse'],
        'LIST_TYPE_CONVERT',
        'Only iterables may be used in a ListType',
      );
    else {
      value.parse.forEach((p: unknown, i) => {
        if (p !== 'users' && p !== 'roles' && p !== 'everyone') {
          errors.add(
            ['allowed_mentions', 'parse', i],
            'ENUM_TYPE_COERCE',
            `Value "${show(p)}" is not a valid enum value.`,
          );
        }
      });
      result.parse = value.parse as APIAllowedMentions['parse'] & unknown[];
    }
  }
  for (const key of ['roles', 'users'] as const) {
    const ids = value[key];
    if (ids === undefined) continue;
    if (!Array.isArray(ids)) {
      errors.add(['allowed_mentions', key], 'LIST_TYPE_CONVERT', 'Only iterables may be used in a ListType');
      continue;
    }
    if (ids.length > MESSAGE_LIMITS.allowedMentionIds)
      errors.add(['allowed_mentions', key], ...maxLength(MESSAGE_LIMITS.allowedMentionIds));
    ids.forEach((id: unknown, i) => {
      if (typeof id !== 'string' || !/^\d{1,20}$/.test(id)) {
        errors.add(
          ['allowed_mentions', key, i],
          'NUMBER_TYPE_COERCE',
          `Value "${show(id)}" is not snowflake.`,
        );
      }
    });
    if (
      ids.length > 0 &&
      result.parse?.includes(key === 'roles' ? AllowedMentionsTypes.Role : AllowedMentionsTypes.User)
    ) {
      errors.add(
        ['allowed_mentions'],
        'ALLOWED_MENTIONS_PARSE_EXCLUSIVE',
        `parse:["${key}"] and ${key}: [ids...] are mutually exclusive.`,
      );
    }
    result[key] = ids as string[];
  }
  if (value.replied_user !== undefined) result.replied_user = value.replied_user === true;
  return result;
}

/**
 * Validates a message body (channel message, interaction reply, follow-up or edit) against
 * Discord's limits. Throws the ApiError Discord would answer: 50035 with a field tree, or 50006
 * for a message with nothing in it.
 */
export function validateMessageBody(body: unknown, context: MessageBodyContext): ValidMessageBody {
  const errors = new FormErrors();
  if (!isRecord(body)) {
    errors.add([], 'DICT_TYPE_CONVERT', 'Only dictionaries may be used in a DictType');
    throw invalidFormBody(errors);
  }
  const result: ValidMessageBody = { enforceNonce: false, hasAttachments: context.fileCount > 0 };

  if (body.content !== undefined && body.content !== null) {
    checkString(errors, ['content'], body.content, MESSAGE_LIMITS.content);
    if (typeof body.content === 'string') result.content = body.content;
  }

  if (body.embeds !== undefined && body.embeds !== null) {
    if (!Array.isArray(body.embeds))
      errors.add(['embeds'], 'LIST_TYPE_CONVERT', 'Only iterables may be used in a ListType');
    else {
      if (body.embeds.length > MESSAGE_LIMITS.embeds)
        errors.add(['embeds'], ...maxLength(MESSAGE_LIMITS.embeds));
      let total = 0;
      body.embeds.forEach((embed: unknown, i) => {
        total += checkEmbed(errors, ['embeds', i], embed);
      });
      if (total > MESSAGE_LIMITS.embedTotal) {
        errors.add(
          ['embeds'],
          'MAX_EMBED_SIZE_EXCEEDED',
          `Embed size exceeds maximum size of ${MESSAGE_LIMITS.embedTotal}`,
        );
      }
      result.embeds = body.embeds as APIEmbed[];
    }
  }

  if (body.nonce !== undefined && body.nonce !== null) {
    if (typeof body.nonce === 'string') {
      if (charCount(body.nonce) > MESSAGE_LIMITS.nonce)
        errors.add(['nonce'], ...maxLength(MESSAGE_LIMITS.nonce));
      result.nonce = body.nonce;
    } else if (typeof body.nonce === 'number' && Number.isSafeInteger(body.nonce)) {
      result.nonce = body.nonce;
    } else {
      errors.add(['nonce'], 'NONCE_TYPE_INVALID', 'Nonce must be a string or an integer.');
    }
  }
  if (body.enforce_nonce !== undefined && body.enforce_nonce !== null) {
    if (typeof body.enforce_nonce !== 'boolean')
      errors.add(['enforce_nonce'], 'BASE_TYPE_BOOLEAN', 'Must be either true or false.');
    else result.enforceNonce = body.enforce_nonce;
  }

  const mentions = checkAllowedMentions(errors, body.allowed_mentions);
  if (mentions) result.allowedMentions = mentions;

  if (body.flags !== undefined && body.flags !== null) {
    const allowed = CHANNEL_MESSAGE_FLAGS | (context.allowEphemeral ? MessageFlags.Ephemeral : 0);
    if (typeof body.flags !== 'number' || !Number.isInteger(body.flags)) {
      errors.add(['flags'], 'NUMBER_TYPE_COERCE', `Value "${show(body.flags)}" is not int.`);
    } else if ((body.flags & ~allowed) !== 0) {
      errors.add(['flags'], 'MESSAGE_FLAGS_INVALID', 'Invalid message flags');
    } else {
      result.flags = body.flags;
    }
  }
  if (body.tts !== undefined) result.tts = body.tts === true;
  if (Array.isArray(body.components)) result.components = body.components as unknown[];
  if (Array.isArray(body.attachments) && body.attachments.length > 0) result.hasAttachments = true;

  if (errors.count > 0) throw invalidFormBody(errors);

  const hasSomething =
    (result.content !== undefined && result.content.trim() !== '') ||
    (result.embeds !== undefined && result.embeds.length > 0) ||
    (result.components !== undefined && result.components.length > 0) ||
    result.hasAttachments ||
    (Array.isArray(body.sticker_ids) && body.sticker_ids.length > 0) ||
    isRecord(body.poll);
  if (!context.isEdit && !hasSomething) {
    throw new ApiError(400, RESTJSONErrorCodes.CannotSendAnEmptyMessage, 'Cannot send an empty message');
  }
  return result;
}
