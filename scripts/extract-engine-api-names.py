#!/usr/bin/env python3
# One-off extraction of the NAMES (facts, not text) in Docker's published Engine API definition, for the
# allowlist coverage test (test/unit/request-allowlist-coverage.test.ts).
#
#   git -C <moby checkout> show HEAD:api/docs/v1.41.yaml > /tmp/v1.41.yaml   # (docs/api/v1.41.yaml in older trees)
#   python3 scripts/extract-engine-api-names.py /tmp/v1.41.yaml > test/fixtures/engine-api-v1.41-names.json
#
# For every path + method: the `in: query` parameter names, and every property of the `in: body` schema,
# following $ref and allOf, as dotted paths: `A.B` for an object property, `A[].B` for a property of an array's
# items, `A.*.B` for a property of a map's values (additionalProperties).
import json
import sys

import yaml

spec = yaml.safe_load(open(sys.argv[1]))
definitions = spec['definitions']


def resolve(schema):
    while '$ref' in schema:
        schema = definitions[schema['$ref'].split('/')[-1]]
    return schema


def properties(schema, seen):
    """Merged properties of a schema with its allOf parts."""
    schema = resolve(schema)
    props = {}
    for part in schema.get('allOf', []):
        props.update(properties(part, seen))
    props.update(schema.get('properties', {}))
    return props


def walk(schema, prefix, out, seen):
    schema = resolve(schema)
    key = id(schema)
    if key in seen:
        return
    seen = seen | {key}
    for name, child in properties(schema, seen).items():
        path = name if prefix == '' else f'{prefix}.{name}'
        out.add(path)
        descend(child, path, out, seen)


def descend(child, path, out, seen):
    child = resolve(child)
    if child.get('type') == 'array' and 'items' in child:
        descend(child['items'], f'{path}[]', out, seen)
    elif isinstance(child.get('additionalProperties'), dict):
        descend(child['additionalProperties'], f'{path}.*', out, seen)
    if 'properties' in child or 'allOf' in child:
        walk(child, path, out, seen)


routes = {}
for path, methods in spec['paths'].items():
    for method, op in methods.items():
        if not isinstance(op, dict):
            continue
        query = sorted(p['name'] for p in op.get('parameters', []) if p.get('in') == 'query')
        body = set()
        for p in op.get('parameters', []):
            if p.get('in') == 'body' and 'schema' in p:
                schema = resolve(p['schema'])
                if schema.get('type') == 'array' and 'items' in schema:
                    descend(schema['items'], '[]', body, frozenset())
                else:
                    walk(schema, '', body, frozenset())
        routes[f'{method.upper()} {path}'] = {'query': query, 'body': sorted(body)}

json.dump({
    'source': 'moby/moby api/docs/v1.41.yaml (Engine API v1.41, Docker 20.10)',
    'routes': routes
}, sys.stdout, indent=1, sort_keys=True)
print()
