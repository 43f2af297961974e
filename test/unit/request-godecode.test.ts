import { describe, expect, it } from 'vitest'
import {
  decodeAs, fieldFor, goBool, goNumber, goStrSlice, goString, goStruct, mapOf, pointerTo, sliceOf, structOf
} from '../../src/request/godecode.js'
import { GoJsonError, parseGoJson } from '../../src/request/gojson.js'

const inner = goStruct('Inner', { Memory: goNumber, Privileged: goBool, Name: goString })
const item = goStruct('Item', { Type: goString, Source: goString })
const schema = goStruct('Outer', {
  Privileged: goBool,
  Devices: sliceOf(goString),
  NetworkMode: goString,
  Image: goString,
  Cmd: goStrSlice,
  Labels: mapOf(goString),
  HostConfig: pointerTo(inner),
  Restart: structOf(inner),
  Mounts: sliceOf(structOf(item)),
  Ptrs: sliceOf(pointerTo(item)),
  Endpoints: mapOf(pointerTo(item))
})

const decode = (text: string): Record<string, any> => decodeAs(schema, parseGoJson(Buffer.from(text, 'utf8')))

describe('field matching', () => {
  it('matches keys case-insensitively', () => {
    expect(decode('{"privileged":true}').Privileged).toBe(true)
    expect(decode('{"PRIVILEGED":true}').Privileged).toBe(true)
    expect(decode('{"nEtWoRkMoDe":"host"}').NetworkMode).toBe('host')
  })

  it('folds ſ (U+017F) onto s and the Kelvin sign (U+212A) onto k, like Go', () => {
    expect(decode('{"Deviceſ":["/dev/sda"]}').Devices).toEqual(['/dev/sda'])
    expect(decode('{"Networ\u212aMode":"host"}').NetworkMode).toBe('host')
    expect(decode('{"Networ\\u212aMode":"host"}').NetworkMode).toBe('host')
    expect(decode('{"\u017fource":"x","Device\\u017f":["y"]}')).toEqual({ Devices: ['y'] })
    expect(fieldFor(item, '\u017fOURCE')).toBe('Source')
    expect(fieldFor(item, '\u017fource')).toBe('Source')
  })

  it('does not fold other look-alikes', () => {
    expect(decode('{"İmage":"x"}')).toEqual({}) // U+0130
    expect(decode('{"Privileged ":true}')).toEqual({})
    expect(decode('{"Privi\\u006Ceged":true}').Privileged).toBe(true) // escapes are undone first
  })

  it('ignores unknown keys', () => {
    expect(decode('{"Unknown":{"deep":[1,2,{"x":null}]}}')).toEqual({})
  })
})

describe('duplicate keys', () => {
  it('last duplicate wins for scalars, whatever the case of the key', () => {
    expect(decode('{"Privileged":true,"Privileged":false}').Privileged).toBe(false)
    expect(decode('{"Privileged":false,"privileged":true}').Privileged).toBe(true)
    expect(decode('{"Image":"a","IMAGE":"b"}').Image).toBe('b')
  })

  it('merges struct pointers across duplicates', () => {
    const value = decode('{"HostConfig":{"Privileged":true},"HostConfig":{"Memory":1}}')
    expect(value.HostConfig).toEqual({ Privileged: true, Memory: 1 })
    expect(decode('{"HostConfig":{"Privileged":true},"hostconfig":{"Privileged":false}}').HostConfig.Privileged).toBe(false)
  })

  it('merges plain structs across duplicates', () => {
    expect(decode('{"Restart":{"Name":"x"},"Restart":{"Memory":2}}').Restart).toEqual({ Name: 'x', Memory: 2 })
  })

  it('merges maps with case-sensitive keys, last duplicate key winning', () => {
    const value = decode('{"Labels":{"a":"1","A":"2"},"Labels":{"a":"3","b":"4"}}')
    expect({ ...value.Labels }).toEqual({ a: '3', A: '2', b: '4' })
    expect({ ...decode('{"Labels":{"k":"1","k":"2"}}').Labels }).toEqual({ k: '2' })
  })

  it('replaces map values wholesale rather than merging them', () => {
    const value = decode('{"Endpoints":{"n":{"Type":"a"},"n":{"Source":"b"}}}')
    expect(value.Endpoints.n).toEqual({ Source: 'b' })
  })

  it('keeps map keys like __proto__ as plain entries', () => {
    const value = decode('{"Labels":{"__proto__":"x"}}')
    expect(Object.keys(value.Labels)).toEqual(['__proto__'])
    expect(value.Labels.__proto__).toBe('x')
  })

  it('decodes arrays into the existing slice element by element', () => {
    // A later, shorter array leaves the earlier elements in the backing array.
    expect(decode('{"Devices":["/dev/sda","/dev/sdb"],"Devices":["/dev/null"]}').Devices).toEqual(['/dev/null'])
    // null does not touch a string element, so the earlier value survives.
    expect(decode('{"Devices":["/dev/sda"],"Devices":[null]}').Devices).toEqual(['/dev/sda'])
    // Hidden elements come back when a later array is longer again.
    expect(decode('{"Devices":["a","/dev/sda"],"Devices":["x"],"Devices":["y",null]}').Devices).toEqual(['y', '/dev/sda'])
    // Struct elements merge.
    expect(decode('{"Mounts":[{"Type":"bind","Source":"/"}],"Mounts":[{"Source":"vol"}]}').Mounts)
      .toEqual([{ Type: 'bind', Source: 'vol' }])
    expect(decode('{"Ptrs":[{"Type":"bind"}],"Ptrs":[{"Source":"/"}]}').Ptrs).toEqual([{ Type: 'bind', Source: '/' }])
    expect(decode('{"Ptrs":[{"Type":"bind"}],"Ptrs":[null]}').Ptrs).toEqual([null])
  })

  it('starts fresh on an empty array or null', () => {
    expect(decode('{"Devices":["/dev/sda"],"Devices":[]}').Devices).toEqual([])
    expect(decode('{"Devices":["/dev/sda"],"Devices":[],"Devices":[null]}').Devices).toEqual([''])
    expect(decode('{"Devices":["/dev/sda"],"Devices":null,"Devices":[null]}').Devices).toEqual([''])
  })

  it('decodes StrSlice values fresh each time, from a string or an array', () => {
    expect(decode('{"Cmd":"ls -l"}').Cmd).toEqual(['ls -l'])
    expect(decode('{"Cmd":["a","b"],"Cmd":[null]}').Cmd).toEqual([''])
    expect(decode('{"Cmd":["a"],"Cmd":null}').Cmd).toBeNull()
  })
})

describe('null', () => {
  it('resets pointers, maps and slices', () => {
    expect(decode('{"HostConfig":{"Privileged":true},"HostConfig":null}').HostConfig).toBeNull()
    expect(decode('{"Labels":{"a":"b"},"Labels":null}').Labels).toBeNull()
    expect(decode('{"Devices":["x"],"Devices":null}').Devices).toBeNull()
  })

  it('is a no-op for scalars and plain structs', () => {
    expect(decode('{"Privileged":true,"Privileged":null}').Privileged).toBe(true)
    expect(decode('{"Image":"x","Image":null}').Image).toBe('x')
    expect(decode('{"Restart":{"Name":"x"},"Restart":null}').Restart).toEqual({ Name: 'x' })
  })

  it('gives zero values to map entries and new slice elements', () => {
    expect({ ...decode('{"Labels":{"a":null}}').Labels }).toEqual({ a: '' })
    expect(decode('{"Devices":[null]}').Devices).toEqual([''])
    expect(decode('{"Mounts":[null]}').Mounts).toEqual([{}])
  })
})

describe('type mismatches', () => {
  it('rejects values the daemon would refuse to decode', () => {
    for (const text of [
      '{"Privileged":"true"}', '{"Privileged":1}', '{"Image":5}', '{"Devices":"x"}', '{"Devices":[1]}',
      '{"Labels":[]}', '{"Labels":{"a":1}}', '{"HostConfig":[]}', '{"HostConfig":true}', '{"Cmd":5}',
      '{"Cmd":[1]}', '{"Mounts":[5]}', '{"Restart":"x"}'
    ]) {
      expect(() => decode(text), text).toThrow(GoJsonError)
    }
  })

  it('names the field in the error', () => {
    expect(() => decode('{"HostConfig":{"privileged":"yes"}}')).toThrow('HostConfig.Privileged must be a boolean, not a string')
  })
})
