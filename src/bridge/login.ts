// The SSH user name carries who and where: `alice+web-1` is alice entering container web-1, plain `alice` asks
// for the picker. Both parts are checked against the shapes the policy and Docker allow, so nothing odd travels on.

export interface Login {
  user: string
  /** Container name, ID or ID prefix; null when the user should pick one. */
  container: string | null
}

const USER = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/
const CONTAINER = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/

export function parseLogin (username: string): Login | null {
  const plus = username.indexOf('+')
  const user = plus === -1 ? username : username.slice(0, plus)
  const container = plus === -1 ? null : username.slice(plus + 1)
  if (!USER.test(user)) return null
  if (container !== null && !CONTAINER.test(container)) return null
  return { user, container }
}
