/**
 * `${name}` macros in commands, environment values and paths. A template string is compiled once
 * into literal and macro segments and rendered per task, because a 100,000-task sweep renders the
 * same command 100,000 times. `$${name}` is a literal `${name}`.
 */

/** A macro name: what may appear between `${` and `}`. */
export const MACRO_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Macros cloudjobs defines for every job; a parameter may not take one of these names. */
export const BUILTIN_MACROS = [
  'jobId',
  'jobName',
  'owner',
  'taskId',
  'index',
  'inputDir',
  'outputDir',
] as const;

export type BuiltinMacro = (typeof BUILTIN_MACROS)[number];

/** A compiled template: literal text and macro references, in order. */
export type CompiledTemplate = ReadonlyArray<string | { macro: string }>;

/** Why a template cannot be compiled. */
export class MacroSyntaxError extends Error {
  override readonly name = 'MacroSyntaxError';
}

/** Splits a template into literals and macro references; throws {@link MacroSyntaxError}. */
export function compileTemplate(text: string): CompiledTemplate {
  if (!text.includes('$')) return [text];
  const parts: Array<string | { macro: string }> = [];
  let literal = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar === -1) {
      literal += text.slice(i);
      break;
    }
    literal += text.slice(i, dollar);
    if (text.startsWith('$${', dollar)) {
      literal += '${';
      i = dollar + 3;
      continue;
    }
    if (text[dollar + 1] !== '{') {
      literal += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    if (close === -1) throw new MacroSyntaxError(`has "\${" without a closing "}" at position ${dollar}`);
    const name = text.slice(dollar + 2, close);
    if (!MACRO_NAME.test(name)) throw new MacroSyntaxError(`has an invalid macro name "\${${name}}"`);
    if (literal) parts.push(literal);
    literal = '';
    parts.push({ macro: name });
    i = close + 1;
  }
  if (literal || parts.length === 0) parts.push(literal);
  return parts;
}

/** The macro names a compiled template refers to. */
export function macrosIn(template: CompiledTemplate): string[] {
  return template.flatMap((part) => (typeof part === 'string' ? [] : [part.macro]));
}

/**
 * Renders a compiled template. `lookup` returns a macro's value, or `undefined` when it is not
 * defined here; the first undefined macro is returned as `missing` rather than rendered empty,
 * because an empty string in a command line fails far from its cause.
 */
export function renderTemplate(
  template: CompiledTemplate,
  lookup: (name: string) => string | undefined,
): { value: string } | { missing: string } {
  if (template.length === 1 && typeof template[0] === 'string') return { value: template[0] };
  let value = '';
  for (const part of template) {
    if (typeof part === 'string') {
      value += part;
      continue;
    }
    const replacement = lookup(part.macro);
    if (replacement === undefined) return { missing: part.macro };
    value += replacement;
  }
  return { value };
}

/** Compiles templates once per distinct text. */
export class TemplateCache {
  readonly #compiled = new Map<string, CompiledTemplate>();

  compile(text: string): CompiledTemplate {
    let compiled = this.#compiled.get(text);
    if (!compiled) {
      compiled = compileTemplate(text);
      this.#compiled.set(text, compiled);
    }
    return compiled;
  }
}

/**
 * What `${inputDir}` means: the task's working directory on its node, where its inputs land (their
 * targets are relative to it). A shell variable Batch sets, because the directory is known only
 * once the task is placed; so the macro is for commands and environment values, which run under
 * a shell, not for paths cloudjobs resolves itself.
 */
export const WORKING_DIR = '$AZ_BATCH_TASK_WORKING_DIR';

/** The folder of the working directory `${outputDir}` names; everything in it is uploaded. */
export const OUTPUT_FOLDER = 'outputs';
