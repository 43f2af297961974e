// Finds command text in an exec's argv: a program that runs a string as code (`sh -c '…'`, `python3 -c`, `perl -e`,
// awk programs…) or reads its commands from stdin (a shell with no script). Command globs (`denyCommands`) match the
// argv, never what such text does once a shell has read it (`sh -c 'n""senter …'` runs nsenter), so roles with
// command rules refuse command text (`exec.commandStrings`). Every argv position is examined, so wrappers
// (`env`, `nice`, `timeout`, `busybox`, `chroot /`, `find -exec`, a dynamic loader) and full paths change nothing.
// Pure: argv in, a description of the text found (or null) out.

type Finder = (args: readonly string[], stdin: boolean, name: string) => string | null

/** `-xc` → `xc`; null for operands, `-`, and long options (`--x`). */
function cluster (arg: string): string | null {
  if (arg.length < 2 || arg.startsWith('--')) return null
  return arg[0] === '-' || arg[0] === '+' ? arg.slice(1) : null
}

function isLong (arg: string, ...names: string[]): boolean {
  return names.some((n) => arg === n || arg.startsWith(n + '='))
}

/**
 * Reads options as getopt does: a letter in `takesArg` takes the rest of its cluster, or else the next argument.
 * Returns the option letters seen and the first operand (the script file), or null when there is none.
 */
function getopt (args: readonly string[], takesArg: string, longWithArg: readonly string[] = []): { letters: Set<string>, operand: string | null } {
  const letters = new Set<string>()
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--') return { letters, operand: args[i + 1] ?? null }
    if (arg.startsWith('--')) {
      if (longWithArg.includes(arg)) i++
      continue
    }
    const group = cluster(arg)
    if (group === null) return { letters, operand: arg }
    for (let j = 0; j < group.length; j++) {
      const letter = group[j]!
      letters.add(letter)
      if (takesArg.includes(letter)) {
        if (j === group.length - 1) i++
        break
      }
    }
  }
  return { letters, operand: null }
}

function firstOperand (args: readonly string[], takesArg: string, longWithArg: readonly string[] = []): string | null {
  return getopt(args, takesArg, longWithArg).operand
}

/** Shells: `-c` anywhere in an option cluster (`-c`, `-ec`, `-xc`, `+c`), fish's `--command`; stdin shells. */
const shell: Finder = (args, stdin, name) => {
  for (const arg of args) {
    const letters = cluster(arg)
    if ((letters !== null && letters.includes('c')) || isLong(arg, '--command')) return `${name} ${arg} runs a shell string`
  }
  if (!stdin) return null
  const reads = args.some((a) => { const l = cluster(a); return l !== null && (l.includes('s') || l.includes('i')) }) || args.includes('--interactive')
  const script = firstOperand(args, 'oO', ['--rcfile', '--init-file'])
  if (reads || script === null || script === '-') return `${name} with stdin attached reads its commands from stdin`
  return null
}

/** Interpreters whose program text comes from an eval flag (any cluster holding one of `flags`) or from stdin. */
function interpreter (flags: string, longs: readonly string[], takesArg: string, stdinFlags: string, longWithArg: readonly string[] = []): Finder {
  return (args, stdin, name) => {
    for (const arg of args) {
      if (arg === '--') break
      const letters = cluster(arg)
      if (letters !== null && [...flags].some((f) => letters.includes(f))) return `${name} ${arg} runs program text`
      if (isLong(arg, ...longs)) return `${name} ${arg} runs program text`
    }
    if (!stdin) return null
    const interactive = args.some((a) => { const l = cluster(a); return l !== null && [...stdinFlags].some((f) => l.includes(f)) }) || args.includes('--interactive')
    const script = firstOperand(args, takesArg, longWithArg)
    if (interactive || script === null || script === '-') return `${name} with stdin attached reads its program from stdin`
    return null
  }
}

/** Always text: the program is a string by design (awk, sed, watch, tmux…), unless an option (read as getopt does,
 * with `takesArg` letters taking a value) says the program comes from a file or argv instead. */
function always (what: string, unlessLong: readonly string[] = [], unlessShort = '', takesArg = ''): Finder {
  return (args, _stdin, name) => {
    if (args.some((arg) => isLong(arg, ...unlessLong))) return null
    if (unlessShort !== '' && getopt(args, takesArg).letters.has(unlessShort)) return null
    return `${name} ${what}`
  }
}

/** awk: the program is text unless it comes from a file (-f, -E) and no -e/--source adds text to it. */
const awk: Finder = (args, _stdin, name) => {
  const { letters } = getopt(args, 'FvfeEilL', ['--file', '--source', '--exec', '--include', '--load', '--field-separator', '--assign'])
  const fromFile = letters.has('f') || letters.has('E') || args.some((a) => isLong(a, '--file', '--exec'))
  const text = letters.has('e') || args.some((a) => isLong(a, '--source'))
  return fromFile && !text ? null : `${name} runs an awk program (awk runs commands with system())`
}

/** Programs that run a string only with one flag (`su -c`, `flock -c`, `env -S`, `capsh --`). */
function withFlag (flags: string, longs: readonly string[], what: string): Finder {
  return (args, _stdin, name) => {
    for (const arg of args) {
      const letters = cluster(arg)
      if ((letters !== null && [...flags].some((f) => letters.includes(f))) || isLong(arg, ...longs)) return `${name} ${arg} ${what}`
    }
    return null
  }
}

/** vi/vim/ex: `-c cmd`, `+cmd` and `--cmd` run editor commands (`:!sh`); with stdin they read commands too. */
const editor: Finder = (args, stdin, name) => {
  const found = args.find((a) => a === '-c' || a === '--cmd' || a.startsWith('+') || a === '-s' || a === '-S')
  if (found !== undefined) return `${name} ${found} runs editor commands (which can run shell commands)`
  return stdin ? `${name} with stdin attached reads commands from stdin` : null
}

/** Programs that read commands from stdin when it is attached (editors, debuggers, REPLs). */
const readsStdin: Finder = (_args, stdin, name) => stdin ? `${name} with stdin attached reads commands from stdin` : null

const SHELLS = ['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh', 'ksh93', 'mksh', 'pdksh', 'oksh', 'yash', 'posh', 'rbash', 'hush', 'msh', 'fish', 'csh', 'tcsh', 'rc', 'es', 'elvish', 'nu', 'xonsh']

const SHELL_NAMES = new Set(SHELLS)

const BY_NAME = new Map<string, Finder>([
  ...SHELLS.map((n) => [n, shell] as [string, Finder]),
  ['pwsh', always('runs PowerShell text')],
  ['powershell', always('runs PowerShell text')],
  ['perl', interpreter('eE', [], '', '', [])],
  ['ruby', interpreter('e', [], 'CIrx', 'i')],
  ['irb', readsStdin],
  ['node', interpreter('ep', ['--eval', '--print'], 'r', 'i', ['--require'])],
  ['bun', interpreter('ep', ['--eval', '--print'], '', 'i')],
  ['deno', always('runs TypeScript/JavaScript text (eval, repl, or a remote script)')],
  ['php', interpreter('rRBE', ['--run', '--process-code', '--process-begin', '--process-end'], 'cdzf', 'a')],
  ['lua', interpreter('e', [], 'l', 'i')],
  ['luajit', interpreter('e', [], 'l', 'i')],
  ['tclsh', interpreter('', [], '', '')],
  ['wish', interpreter('', [], '', '')],
  ['expect', interpreter('c', [], 'f', 'i')],
  ['awk', awk],
  ['sed', always('runs a sed script (GNU sed runs commands with e)')],
  ['watch', always('runs its arguments through sh -c', ['--exec'], 'x', 'nd')],
  ['tmux', always('runs command strings through a shell')],
  ['xargs', (_a, stdin, name) => stdin ? `${name} builds commands from stdin text` : null],
  ['su', (args, stdin, name) => withFlag('c', ['--command', '--session-command'], 'runs a shell string')(args, stdin, name) ?? (stdin ? `${name} with stdin attached opens a shell reading stdin` : null)],
  ['runuser', withFlag('c', ['--command', '--session-command'], 'runs a shell string')],
  ['sudo', withFlag('si', ['--shell', '--login'], 'opens a shell')],
  ['flock', withFlag('c', ['--command'], 'runs a shell string')],
  ['script', withFlag('c', ['--command'], 'runs a shell string')],
  ['env', withFlag('S', ['--split-string'], 'splits a string into a command')],
  ['capsh', withFlag('', ['--'], 'passes the rest to a shell')],
  ...['ex', 'vi', 'vim', 'nvim', 'view', 'vim.basic', 'vim.tiny'].map((n) => [n, editor] as [string, Finder]),
  ['ed', readsStdin], ['less', readsStdin], ['more', readsStdin], ['at', always('queues command text')], ['batch', always('queues command text')],
  ['tar', withFlag('', ['--to-command', '--checkpoint-action', '--use-compress-program', '--info-script', '--new-volume-script', '--rsh-command'], 'runs a command string')],
  ['rsync', withFlag('e', ['--rsh', '--rsync-path'], 'runs a remote-shell command string')],
  ['ssh', (args, _stdin, name) => args.some((a, i) => /^-o(ProxyCommand|LocalCommand|PermitLocalCommand|KnownHostsCommand)/i.test(a) || (a === '-o' && /^(ProxyCommand|LocalCommand|KnownHostsCommand)/i.test(args[i + 1] ?? ''))) ? `${name} -o …Command runs a shell string` : null],
  ['zip', withFlag('', ['-TT', '--unzip-command'], 'runs a command string')],
  ['git', withFlag('c', ['--config-env', '--exec-path'], 'sets configuration that can run shell strings (aliases with !, pagers, editors)')],
  ['make', withFlag('E', ['--eval'], 'evaluates makefile text')],
  ['guile', interpreter('c', [], '', '')],
  ['racket', interpreter('e', ['--eval'], '', 'i')],
  ['Rscript', interpreter('e', [], '', '')],
  ['R', readsStdin],
  ['julia', interpreter('e', ['--eval', '--print'], '', 'i')],
  ['gdb', (args, stdin, name) => withFlag('', ['-ex', '--ex', '-eval-command', '--eval-command'], 'runs debugger commands')(args, stdin, name) ?? readsStdin(args, stdin, name)],
  ['dc', readsStdin]
])

// Every exec's argv goes through family(), word by word, and the same words come back call after call.
const FAMILY_CACHE_MAX = 4096
const familyCache = new Map<string, string>()

/** python, python3, python3.11, pypy3, perl5.36, php8.2, lua5.4, gawk, mawk… → the family name. */
function family (program: string): string {
  let name = familyCache.get(program)
  if (name === undefined) {
    name = familyOf(program)
    if (familyCache.size >= FAMILY_CACHE_MAX) familyCache.clear()
    familyCache.set(program, name)
  }
  return name
}

function familyOf (program: string): string {
  const base = program.slice(program.lastIndexOf('/') + 1)
  if (/^(python|pypy)[0-9.]*(-dbg)?$/.test(base)) return 'python'
  if (/^(g|m|n|original-|busybox-)?awk$/.test(base)) return 'awk'
  if (/^gsed$/.test(base)) return 'sed'
  if (/^nodejs$|^node[0-9]+$/.test(base)) return 'node'
  const versioned = /^(perl|ruby|php|lua|tclsh|wish)[0-9.]*(-cli)?$/.exec(base)
  if (versioned !== null) return versioned[1]!
  // bash5, bash-static, dash.static, sh.distrib, ksh93…: still that shell.
  const shellBase = base.replace(/([0-9.]+|[.-](static|distrib|bin))$/, '')
  if (shellBase !== base && SHELL_NAMES.has(shellBase)) return shellBase
  return base
}

const python: Finder = interpreter('c', [], 'WXQm', 'i')

/**
 * Where argv runs command text, as a short reason (`sh -c runs a shell string`), or null when it does not.
 * `stdin`: the exec has stdin attached (a program that reads commands there reads text nobody judged).
 */
export function findCommandText (argv: readonly string[], stdin: boolean): string | null {
  for (let i = 0; i < argv.length; i++) {
    const name = family(argv[i]!)
    const finder = name === 'python' ? python : BY_NAME.get(name)
    if (finder === undefined) continue
    // Python's -m names a module, not a script: with stdin attached, `python -m code` is a REPL.
    if (name === 'python' && stdin && argv.slice(i + 1).some((a) => { const l = cluster(a); return l !== null && l.includes('m') })) {
      return `${name} -m with stdin attached may read its program from stdin`
    }
    const found = finder(argv.slice(i + 1), stdin, name)
    if (found !== null) return found
  }
  return null
}
