// One AuthZReq exactly as dockerd 20.10 sends it, as the raw bytes of the HTTP request, built once so the
// load generator only writes a Buffer. The daemon's plugin client (pkg/plugins) POSTs json.Encode'd
// authorization.Request with `Accept: application/vnd.docker.plugins.v1.2+json` and no Content-Type; the
// Request fields are `omitempty`, so User and UserAuthNMethod are absent without TLS, RequestBody is base64
// (Go's []byte) and RequestHeaders maps each canonical header name to its first value (Go sorts map keys).

const PLUGIN_ACCEPT = 'application/vnd.docker.plugins.v1.2+json'

/** The JSON document dockerd sends for a client request `method uri` with a JSON `body` and these headers. */
function authzRequestDocument ({ method, uri, body, headers }) {
  const document = { RequestMethod: method, RequestUri: uri }
  const bodyBytes = body === undefined ? undefined : Buffer.from(body)
  if (bodyBytes !== undefined && bodyBytes.length > 0) document.RequestBody = bodyBytes.toString('base64')
  const all = { ...headers }
  if (bodyBytes !== undefined) {
    all['Content-Length'] = String(bodyBytes.length)
    all['Content-Type'] = 'application/json'
  }
  document.RequestHeaders = Object.fromEntries(Object.keys(all).sort().map((name) => [name, all[name]]))
  return document
}

/** The bytes of `POST /AuthZPlugin.AuthZReq` carrying `document`, as Go's net/http client writes them. */
export function pluginHttpRequest (document, endpoint = '/AuthZPlugin.AuthZReq') {
  const json = Buffer.from(JSON.stringify(document) + '\n') // json.Encoder ends with a newline
  const head = [
    `POST ${endpoint} HTTP/1.1`,
    'Host: plugin.sock',
    'User-Agent: Go-http-client/1.1',
    `Content-Length: ${json.length}`,
    `Accept: ${PLUGIN_ACCEPT}`,
    'Accept-Encoding: gzip',
    '',
    ''
  ].join('\r\n')
  return Buffer.concat([Buffer.from(head, 'latin1'), json])
}

/** `docker exec NAME ls /` as the CLI asks for it: create the exec, stdout and stderr attached. */
export function execCreateRequest ({ apiVersion = '1.41', container, token }) {
  return authzRequestDocument({
    method: 'POST',
    uri: `/v${apiVersion}/containers/${container}/exec`,
    body: JSON.stringify({ AttachStdout: true, AttachStderr: true, Cmd: ['ls', '/'] }) + '\n',
    headers: { 'User-Agent': 'Docker-Client/20.10.24+dfsg1 (linux)', 'X-Portcullis-Token': token }
  })
}
