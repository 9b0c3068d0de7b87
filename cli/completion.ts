import type { Command } from 'commander';

/** The command tree as words: subcommands of the program and of each command, and their options. */
function words(program: Command): { top: string[]; sub: Map<string, string[]> } {
  const sub = new Map<string, string[]>();
  for (const command of program.commands) {
    const names = command.commands.map((c) => c.name());
    const flags = command.options.flatMap((o) => [o.long, o.short].filter((f): f is string => Boolean(f)));
    sub.set(command.name(), [...names, ...flags, '--json', '--url', '--token', '--help']);
  }
  return { top: program.commands.map((c) => c.name()), sub };
}

/**
 * A completion script for bash or zsh, made from the commands themselves so it cannot fall behind
 * them. zsh runs the bash function through bashcompinit, which ships with zsh.
 */
export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  const { top, sub } = words(program);
  const cases = [...sub]
    .map(([name, list]) => `    ${name}) COMPREPLY=($(compgen -W "${list.join(' ')}" -- "$cur")) ;;`)
    .join('\n');
  const bash = `_cloudjobs() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${top.join(' ')} --help --version" -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
  esac
  if [ \${#COMPREPLY[@]} -eq 0 ]; then COMPREPLY=($(compgen -f -- "$cur")); fi
}
complete -F _cloudjobs cloudjobs
`;
  return shell === 'bash' ? bash : `autoload -U +X bashcompinit && bashcompinit\n${bash}`;
}
