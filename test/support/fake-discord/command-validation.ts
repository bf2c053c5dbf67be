import type { APIApplicationCommandOption, Permissions } from 'discord-api-types/v10';
import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  ChannelType,
  InteractionContextType,
} from 'discord-api-types/v10';
import { FormErrors, invalidFormBody } from './api-error';
import { charCount, show } from './message-validation';

/** A command definition as the bot sent it, after validation and Discord's defaults. */
export interface CommandDefinition {
  type: ApplicationCommandType;
  name: string;
  name_localizations?: Record<string, string> | null;
  description: string;
  description_localizations?: Record<string, string> | null;
  options: APIApplicationCommandOption[];
  default_member_permissions: Permissions | null;
  dm_permission: boolean;
  contexts: InteractionContextType[] | null;
  integration_types: number[];
  nsfw: boolean;
}

/** Discord's rules for command and option names, chat-input commands. */
export const CHAT_INPUT_NAME = /^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;

const LIMITS = {
  options: 25,
  choices: 25,
  description: 100,
  choiceName: 100,
  choiceValue: 100,
  totalChars: 4000,
} as const;
/** How many commands of each type one scope (global, or one guild) may hold. */
const MAX_COMMANDS: Record<number, number> = {
  [ApplicationCommandType.ChatInput]: 100,
  [ApplicationCommandType.User]: 15,
  [ApplicationCommandType.Message]: 15,
  [ApplicationCommandType.PrimaryEntryPoint]: 1,
};
const SUBCOMMAND_TYPES = new Set<ApplicationCommandOptionType>([
  ApplicationCommandOptionType.Subcommand,
  ApplicationCommandOptionType.SubcommandGroup,
]);
const CHOICE_TYPES = new Set<ApplicationCommandOptionType>([
  ApplicationCommandOptionType.String,
  ApplicationCommandOptionType.Integer,
  ApplicationCommandOptionType.Number,
]);
const NUMERIC_TYPES = new Set<ApplicationCommandOptionType>([
  ApplicationCommandOptionType.Integer,
  ApplicationCommandOptionType.Number,
]);
const VALID_CHANNEL_TYPES = new Set<number>(
  Object.values(ChannelType).filter(
    (v): v is number => typeof v === 'number' && v !== ChannelType.GuildDirectory,
  ),
);

type Path = (string | number)[];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A name has no upper-case letter when lower-casing it changes nothing. */
function isLowerCase(name: string): boolean {
  return name === name.toLowerCase();
}

function checkName(errors: FormErrors, path: Path, value: unknown, chatInput: boolean): string {
  if (typeof value !== 'string') {
    errors.add(path, 'BASE_TYPE_REQUIRED', 'This field is required');
    return '';
  }
  const n = charCount(value);
  if (n < 1 || n > 32) {
    errors.add(path, 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 32 in length.');
  } else if (chatInput && !CHAT_INPUT_NAME.test(value)) {
    errors.add(path, 'STRING_TYPE_REGEX', `String value did not match validation regex.`);
  } else if (chatInput && !isLowerCase(value)) {
    errors.add(path, 'APPLICATION_COMMAND_INVALID_NAME', 'Command name is invalid');
  }
  return value;
}

function checkDescription(errors: FormErrors, path: Path, value: unknown): string {
  if (typeof value !== 'string') {
    errors.add(path, 'BASE_TYPE_REQUIRED', 'This field is required');
    return '';
  }
  const n = charCount(value);
  if (n < 1 || n > LIMITS.description)
    errors.add(path, 'BASE_TYPE_BAD_LENGTH', `Must be between 1 and ${LIMITS.description} in length.`);
  return value;
}

/** Counts the characters Discord adds up for the 4,000-character command size limit. */
function sizeOfOptions(options: readonly unknown[]): number {
  let total = 0;
  for (const option of options) {
    if (!isRecord(option)) continue;
    if (typeof option.name === 'string') total += charCount(option.name);
    if (typeof option.description === 'string') total += charCount(option.description);
    if (Array.isArray(option.choices)) {
      for (const choice of option.choices) {
        if (!isRecord(choice)) continue;
        if (typeof choice.name === 'string') total += charCount(choice.name);
        if (typeof choice.value === 'string') total += charCount(choice.value);
        else if (typeof choice.value === 'number') total += String(choice.value).length;
      }
    }
    if (Array.isArray(option.options)) total += sizeOfOptions(option.options);
  }
  return total;
}

function checkChoices(
  errors: FormErrors,
  path: Path,
  option: Record<string, unknown>,
  type: ApplicationCommandOptionType,
): void {
  const choices = option.choices;
  if (choices === undefined || choices === null) return;
  if (!CHOICE_TYPES.has(type)) {
    errors.add(
      [...path, 'choices'],
      'APPLICATION_COMMAND_OPTION_CHOICES_INVALID_TYPE',
      'Choices are only allowed on string, integer and number options',
    );
    return;
  }
  if (!Array.isArray(choices)) {
    errors.add([...path, 'choices'], 'LIST_TYPE_CONVERT', 'Only iterables may be used in a ListType');
    return;
  }
  if (choices.length > LIMITS.choices)
    errors.add([...path, 'choices'], 'BASE_TYPE_MAX_LENGTH', `Must be ${LIMITS.choices} or fewer in length.`);
  choices.forEach((choice: unknown, i) => {
    const choicePath = [...path, 'choices', i];
    if (!isRecord(choice)) {
      errors.add(choicePath, 'DICT_TYPE_CONVERT', 'Only dictionaries may be used in a DictType');
      return;
    }
    if (
      typeof choice.name !== 'string' ||
      charCount(choice.name) < 1 ||
      charCount(choice.name) > LIMITS.choiceName
    ) {
      errors.add(
        [...choicePath, 'name'],
        'BASE_TYPE_BAD_LENGTH',
        `Must be between 1 and ${LIMITS.choiceName} in length.`,
      );
    }
    const value = choice.value;
    if (type === ApplicationCommandOptionType.String) {
      if (typeof value !== 'string' || charCount(value) < 1 || charCount(value) > LIMITS.choiceValue) {
        errors.add(
          [...choicePath, 'value'],
          'BASE_TYPE_BAD_LENGTH',
          `Must be between 1 and ${LIMITS.choiceValue} in length.`,
        );
      }
    } else if (type === ApplicationCommandOptionType.Integer) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        errors.add([...choicePath, 'value'], 'NUMBER_TYPE_COERCE', `Value "${show(value)}" is not int.`);
      }
    } else if (typeof value !== 'number' || !Number.isFinite(value)) {
      errors.add(
        [...choicePath, 'value'],
        'NUMBER_TYPE_COERCE',
        `Value "${show(value)}" is not a valid number.`,
      );
    }
  });
  if (option.autocomplete === true && choices.length > 0) {
    errors.add(
      [...path, 'autocomplete'],
      'APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_AND_CHOICES',
      'Autocomplete and choices are mutually exclusive',
    );
  }
}

function checkBounds(
  errors: FormErrors,
  path: Path,
  option: Record<string, unknown>,
  type: ApplicationCommandOptionType,
): void {
  for (const key of ['min_value', 'max_value'] as const) {
    if (option[key] === undefined) continue;
    if (!NUMERIC_TYPES.has(type))
      errors.add(
        [...path, key],
        'APPLICATION_COMMAND_OPTION_INVALID_FIELD',
        `${key} is only allowed on integer and number options`,
      );
    else if (typeof option[key] !== 'number')
      errors.add([...path, key], 'NUMBER_TYPE_COERCE', `Value "${show(option[key])}" is not a valid number.`);
  }
  if (
    typeof option.min_value === 'number' &&
    typeof option.max_value === 'number' &&
    option.min_value > option.max_value
  ) {
    errors.add(
      [...path, 'min_value'],
      'NUMBER_TYPE_MAX',
      'min_value must be less than or equal to max_value',
    );
  }
  for (const [key, min] of [
    ['min_length', 0],
    ['max_length', 1],
  ] as const) {
    const value = option[key];
    if (value === undefined) continue;
    if (type !== ApplicationCommandOptionType.String)
      errors.add(
        [...path, key],
        'APPLICATION_COMMAND_OPTION_INVALID_FIELD',
        `${key} is only allowed on string options`,
      );
    else if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > 6000) {
      errors.add([...path, key], 'NUMBER_TYPE_MAX', `Must be between ${min} and 6000.`);
    }
  }
  if (option.channel_types !== undefined) {
    if (type !== ApplicationCommandOptionType.Channel) {
      errors.add(
        [...path, 'channel_types'],
        'APPLICATION_COMMAND_OPTION_INVALID_FIELD',
        'channel_types is only allowed on channel options',
      );
    } else if (!Array.isArray(option.channel_types)) {
      errors.add([...path, 'channel_types'], 'LIST_TYPE_CONVERT', 'Only iterables may be used in a ListType');
    } else {
      option.channel_types.forEach((t: unknown, i) => {
        if (typeof t !== 'number' || !VALID_CHANNEL_TYPES.has(t)) {
          errors.add(
            [...path, 'channel_types', i],
            'ENUM_TYPE_COERCE',
            `Value "${show(t)}" is not a valid enum value.`,
          );
        }
      });
    }
  }
  if (option.autocomplete !== undefined && option.autocomplete !== false && !CHOICE_TYPES.has(type)) {
    errors.add(
      [...path, 'autocomplete'],
      'APPLICATION_COMMAND_OPTION_INVALID_FIELD',
      'Autocomplete is only allowed on string, integer and number options',
    );
  }
}

/**
 * Validates one level of options. `level` says what may appear: at the command, either
 * subcommands/groups or plain options; inside a group only subcommands; inside a subcommand only
 * plain options.
 */
function checkOptions(
  errors: FormErrors,
  path: Path,
  options: unknown,
  level: 'command' | 'group' | 'subcommand',
): void {
  if (options === undefined || options === null) return;
  if (!Array.isArray(options)) {
    errors.add(path, 'LIST_TYPE_CONVERT', 'Only iterables may be used in a ListType');
    return;
  }
  if (options.length > LIMITS.options)
    errors.add(path, 'BASE_TYPE_MAX_LENGTH', `Must be ${LIMITS.options} or fewer in length.`);
  const names = new Set<string>();
  let sawOptional = false;
  let sawSub = false;
  let sawPlain = false;
  options.forEach((option: unknown, i) => {
    const optionPath = [...path, i];
    if (!isRecord(option)) {
      errors.add(optionPath, 'DICT_TYPE_CONVERT', 'Only dictionaries may be used in a DictType');
      return;
    }
    if (typeof option.type !== 'number' || !(option.type in ApplicationCommandOptionType)) {
      errors.add(
        [...optionPath, 'type'],
        'ENUM_TYPE_COERCE',
        `Value "${show(option.type)}" is not a valid enum value.`,
      );
      return;
    }
    const type = option.type as ApplicationCommandOptionType;
    const name = checkName(errors, [...optionPath, 'name'], option.name, true);
    if (names.has(name))
      errors.add(
        [...optionPath, 'name'],
        'APPLICATION_COMMAND_OPTIONS_DUPLICATE_NAME',
        'Option names must be unique',
      );
    names.add(name);
    checkDescription(errors, [...optionPath, 'description'], option.description);

    const isSub = SUBCOMMAND_TYPES.has(type);
    if (isSub) sawSub = true;
    else sawPlain = true;
    if (level === 'group' && type !== ApplicationCommandOptionType.Subcommand) {
      errors.add(
        [...optionPath, 'type'],
        'APPLICATION_COMMAND_OPTIONS_TYPE_INVALID',
        'Sub-command groups may only contain sub-commands',
      );
    }
    if (level === 'subcommand' && isSub) {
      errors.add(
        [...optionPath, 'type'],
        'APPLICATION_COMMAND_OPTIONS_TYPE_INVALID',
        'Sub-commands cannot contain sub-commands or sub-command groups',
      );
    }

    if (isSub) {
      if (option.required !== undefined && option.required !== false) {
        errors.add(
          [...optionPath, 'required'],
          'APPLICATION_COMMAND_OPTION_INVALID_FIELD',
          'Sub-commands and groups cannot be required',
        );
      }
      checkOptions(
        errors,
        [...optionPath, 'options'],
        option.options,
        type === ApplicationCommandOptionType.SubcommandGroup ? 'group' : 'subcommand',
      );
      return;
    }
    if (option.options !== undefined) {
      errors.add(
        [...optionPath, 'options'],
        'APPLICATION_COMMAND_OPTION_INVALID_FIELD',
        'Only sub-commands and groups have options',
      );
    }
    const required = option.required === true;
    if (required && sawOptional) {
      errors.add(
        [...optionPath, 'required'],
        'APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID',
        'Required options must be placed before non-required options',
      );
    }
    if (!required) sawOptional = true;
    checkChoices(errors, optionPath, option, type);
    checkBounds(errors, optionPath, option, type);
  });
  if (sawSub && sawPlain) {
    errors.add(
      path,
      'APPLICATION_COMMAND_OPTIONS_TYPE_INVALID',
      'Sub-command and sub-command group option types are mutually exclusive to all other types',
    );
  }
}

function checkCommand(errors: FormErrors, path: Path, body: unknown): CommandDefinition | null {
  if (!isRecord(body)) {
    errors.add(path, 'DICT_TYPE_CONVERT', 'Only dictionaries may be used in a DictType');
    return null;
  }
  const rawType = body.type ?? ApplicationCommandType.ChatInput;
  if (typeof rawType !== 'number' || !(rawType in MAX_COMMANDS)) {
    errors.add([...path, 'type'], 'ENUM_TYPE_COERCE', `Value "${show(rawType)}" is not a valid enum value.`);
    return null;
  }
  const type = rawType as ApplicationCommandType;
  const chatInput = type === ApplicationCommandType.ChatInput;
  const name = checkName(errors, [...path, 'name'], body.name, chatInput);
  let description = '';
  if (chatInput) description = checkDescription(errors, [...path, 'description'], body.description);
  else if (body.description !== undefined && body.description !== '' && body.description !== null) {
    errors.add(
      [...path, 'description'],
      'APPLICATION_COMMAND_INVALID_DESCRIPTION',
      'Context menu commands cannot have a description',
    );
  }
  if (chatInput) checkOptions(errors, [...path, 'options'], body.options, 'command');
  else if (Array.isArray(body.options) && body.options.length > 0) {
    errors.add(
      [...path, 'options'],
      'APPLICATION_COMMAND_OPTION_INVALID_FIELD',
      'Context menu commands cannot have options',
    );
  }
  const options = Array.isArray(body.options) ? (body.options as APIApplicationCommandOption[]) : [];
  if (chatInput && charCount(name) + charCount(description) + sizeOfOptions(options) > LIMITS.totalChars) {
    errors.add(path, 'APPLICATION_COMMAND_TOO_LARGE', `Command exceeds maximum size (${LIMITS.totalChars})`);
  }

  let defaultMemberPermissions: string | null = null;
  if (body.default_member_permissions !== undefined && body.default_member_permissions !== null) {
    if (
      typeof body.default_member_permissions !== 'string' ||
      !/^\d{1,20}$/.test(body.default_member_permissions)
    ) {
      errors.add(
        [...path, 'default_member_permissions'],
        'NUMBER_TYPE_COERCE',
        `Value "${show(body.default_member_permissions)}" is not int.`,
      );
    } else defaultMemberPermissions = body.default_member_permissions;
  }
  let contexts: InteractionContextType[] | null = null;
  if (body.contexts !== undefined && body.contexts !== null) {
    if (!Array.isArray(body.contexts))
      errors.add([...path, 'contexts'], 'LIST_TYPE_CONVERT', 'Only iterables may be used in a ListType');
    else {
      body.contexts.forEach((c: unknown, i) => {
        if (
          c !== InteractionContextType.Guild &&
          c !== InteractionContextType.BotDM &&
          c !== InteractionContextType.PrivateChannel
        ) {
          errors.add(
            [...path, 'contexts', i],
            'ENUM_TYPE_COERCE',
            `Value "${show(c)}" is not a valid enum value.`,
          );
        }
      });
      contexts = body.contexts as InteractionContextType[];
    }
  }
  const definition: CommandDefinition = {
    type,
    name,
    description,
    options,
    default_member_permissions: defaultMemberPermissions,
    dm_permission: body.dm_permission !== false,
    contexts,
    integration_types: Array.isArray(body.integration_types) ? (body.integration_types as number[]) : [0],
    nsfw: body.nsfw === true,
  };
  if (isRecord(body.name_localizations))
    definition.name_localizations = body.name_localizations as Record<string, string>;
  if (isRecord(body.description_localizations)) {
    definition.description_localizations = body.description_localizations as Record<string, string>;
  }
  return definition;
}

/** Validates one command (`POST …/commands`); throws 400/50035 with Discord's error tree. */
export function validateCommand(body: unknown): CommandDefinition {
  const errors = new FormErrors();
  const definition = checkCommand(errors, [], body);
  if (errors.count > 0 || !definition) throw invalidFormBody(errors);
  return definition;
}

/**
 * Validates a bulk overwrite (`PUT …/commands`): each command, then unique names per type and the
 * per-type counts. Throws 400/50035 with Discord's error tree.
 */
export function validateCommandList(body: unknown): CommandDefinition[] {
  const errors = new FormErrors();
  if (!Array.isArray(body)) {
    errors.add([], 'LIST_TYPE_CONVERT', 'Only iterables may be used in a ListType');
    throw invalidFormBody(errors);
  }
  const definitions: CommandDefinition[] = [];
  const seen = new Set<string>();
  const perType = new Map<number, number>();
  body.forEach((item: unknown, i) => {
    const definition = checkCommand(errors, [i], item);
    if (!definition) return;
    const key = `${definition.type}:${definition.name}`;
    if (seen.has(key))
      errors.add(
        [i, 'name'],
        'APPLICATION_COMMANDS_DUPLICATE_NAME',
        `Application command names must be unique`,
      );
    seen.add(key);
    perType.set(definition.type, (perType.get(definition.type) ?? 0) + 1);
    definitions.push(definition);
  });
  for (const [type, count] of perType) {
    const max = MAX_COMMANDS[type] ?? 0;
    if (count > max) errors.add([], 'BASE_TYPE_MAX_LENGTH', `Must be ${max} or fewer in length.`);
  }
  if (errors.count > 0) throw invalidFormBody(errors);
  return definitions;
}
