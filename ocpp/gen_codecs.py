#!/usr/bin/env python3
"""gen_codecs.py: turns the OCPP 1.6 JSON schemas into C codecs.

usage: gen_codecs.py messages.txt out.h out.c

messages.txt lists the actions (name, feature profile, who sends the CALL);
schemas/<name>.json and schemas/<name>Response.json beside it hold the
draft-04 schemas.  For every message this writes a struct, a decoder that
validates everything the schema says (types, required, additionalProperties,
enum, maxLength, minimum, minItems, multipleOf, date-time, uri) and reports
the CALLERROR code and the field path of the first violation, an encoder and a
free function; plus the table ocpp_actions[] keyed by action name.

Only the subset of draft-04 the OCPP schemas use is understood: anything
else is an error here, so a schema change cannot be silently ignored.
Nested objects and enums must be "$ref": "#/definitions/<Name>"; a
definition of the same name must be identical in every file.  Python 3
standard library only (meson runs it at build time).
"""
import json
import os
import re
import sys

KNOWN_KEYS = {'$schema', 'id', 'title', 'type', 'properties', 'required',
              'additionalProperties', 'definitions', 'maxLength', 'format',
              'enum', 'items', 'minItems', 'maxItems', 'minimum', 'multipleOf',
              '$ref'}
INLINE_STRING_MAX = 512   # longer strings are heap-allocated


def snake(name):
    s = re.sub(r'(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])', '_', name)
    return re.sub(r'[^A-Za-z0-9]+', '_', s).strip('_').lower()


def ctype_name(defname):
    return 'ocpp_' + snake(defname[:-4] if defname.endswith('Type') else defname)


def reindent(code):
    """Indents generated C by brace depth (with one level per pending
    unbraced if/for), so the templates above need not track indentation."""
    out, depth, pend = [], 0, 0
    for line in code.split('\n'):
        s = line.strip()
        if s.startswith('}'):
            depth -= 1
        label = re.fullmatch(r'[a-z_]+:', s) is not None
        out.append('' if not s else s if label or s.startswith('#') else '\t' * (depth + pend) + s)
        depth += s.count('{') - s.count('}') + s.startswith('}')
        control = re.match(r'(if|for|while|else)\b', s) and not s.endswith(('{', ';'))
        pend = pend + 1 if control else 0
    return '\n'.join(out)


def cstr(s):
    return json.dumps(s)  # a JSON string literal is a valid C literal here


class Gen:
    def __init__(self):
        self.defs = {}       # name -> schema (enums and objects)
        self.order = []      # definition names, dependencies first
        self.h, self.c = [], []

    def fail(self, where, msg):
        sys.exit('gen_codecs.py: %s: %s' % (where, msg))

    def check_keys(self, node, where):
        extra = set(node) - KNOWN_KEYS
        if extra:
            self.fail(where, 'unsupported schema keyword(s) %s' % sorted(extra))
        if node.get('type') == 'object' and node.get('additionalProperties', True) is not False:
            self.fail(where, 'objects must have additionalProperties: false')

    def add_defs(self, schema, where):
        for name, d in schema.get('definitions', {}).items():
            if name in self.defs and self.defs[name] != d:
                self.fail(where, 'definition %s differs from an earlier one' % name)
            self.defs[name] = d

    def visit(self, name, where):
        """Orders definitions so that a struct is declared before its users."""
        if name in self.order:
            return
        d = self.defs.get(name) or self.fail(where, 'unknown $ref %s' % name)
        self.check_keys(d, where + '#' + name)
        for p in d.get('properties', {}).values():
            for r in (p.get('$ref'), p.get('items', {}).get('$ref')):
                if r:
                    self.visit(r.split('/')[-1], where)
        self.order.append(name)

    # ---- fields ----
    def field(self, jname, p, required, where):
        """Returns a dict describing one property: kind, C declaration, ..."""
        self.check_keys(p, where)
        f = {'j': jname, 'c': snake(jname), 'req': required, 'p': p}
        if '$ref' in p:
            ref = p['$ref'].split('/')[-1]
            d = self.defs[ref]
            f['kind'] = 'enum' if 'enum' in d else 'object'
            f['t'] = ctype_name(ref)
        elif p.get('type') == 'array':
            f['kind'] = 'array'
            f['item'] = self.field(jname, p['items'], True, where + '[]')
            if f['item']['kind'] == 'str':  # array elements: heap strings
                f['item']['kind'] = 'strp'
        elif p.get('type') == 'string':
            fmt = p.get('format')
            n = p.get('maxLength')
            f['kind'] = {'date-time': 'datetime', 'uri': 'uri'}.get(fmt) or \
                ('str' if n and n <= INLINE_STRING_MAX else 'strp')
            if fmt not in (None, 'date-time', 'uri'):
                self.fail(where, 'unsupported format %s' % fmt)
        elif p.get('type') in ('integer', 'number', 'boolean'):
            f['kind'] = {'integer': 'int', 'number': 'num', 'boolean': 'bool'}[p['type']]
        else:
            self.fail(where, 'unsupported property %r' % p)
        return f

    def decl(self, f, name=None):
        name = name or f['c']
        k = f['kind']
        return {'enum': 'enum %s %s' % (f.get('t'), name),
                'object': 'struct %s %s' % (f.get('t'), name),
                'datetime': 'struct ocpp_datetime %s' % name,
                'str': 'char %s[%d]' % (name, f['p'].get('maxLength', 0) + 1),
                'strp': 'char *%s' % name, 'uri': 'char *%s' % name,
                'int': 'int32_t %s' % name, 'num': 'double %s' % name,
                'bool': 'bool %s' % name}.get(k) or \
            '%s; size_t n_%s' % (self.decl(f['item'], '*' + name), name)

    def fields(self, schema, where):
        req = schema.get('required', [])
        for r in req:
            if r not in schema.get('properties', {}):
                self.fail(where, 'required %s is not a property' % r)
        return [self.field(n, p, n in req, where + '.' + n)
                for n, p in schema.get('properties', {}).items()]

    # ---- C output ----
    def emit_enum(self, name, d):
        t = ctype_name(name)
        up = t.upper()
        vals = ['%s_%s' % (up, snake(v).upper()) for v in d['enum']]
        if len(set(vals)) != len(vals):
            self.fail(name, 'enum values collide in C')
        self.h.append('enum %s {\n%s\n\t%s__COUNT\n};' % (
            t, '\n'.join('\t%s,' % v for v in vals), up))
        self.h.append('extern const char *const %s_names[%s__COUNT];' % (t, up))
        self.h.append('const char *%s_str(enum %s v); /* NULL if out of range */' % (t, t))
        self.h.append('int %s_parse(const char *s, enum %s *ret) '
                      '__attribute__((warn_unused_result));\n' % (t, t))
        self.c.append('const char *const %s_names[%s__COUNT] = {\n%s\n};' % (
            t, up, '\n'.join('\t%s,' % cstr(v) for v in d['enum'])))
        self.c.append('const char *%s_str(enum %s v)\n{\n\treturn (unsigned)v < %s__COUNT ? '
                      '%s_names[v] : NULL;\n}' % (t, t, up, t))
        self.c.append('int %s_parse(const char *s, enum %s *ret)\n{\n'
                      '\tfor (int i = 0; i < %s__COUNT; i++)\n'
                      '\t\tif (strcmp(s, %s_names[i]) == 0) {\n'
                      '\t\t\t*ret = (enum %s)i;\n\t\t\treturn 0;\n\t\t}\n'
                      '\treturn OCPP_E_INVALID;\n}\n' % (t, t, up, t, t))

    def emit_struct(self, t, flds, comment):
        body = []
        for f in flds:
            if not f['req']:
                body.append('\tbool has_%s;' % f['c'])
            body.append('\t%s;' % self.decl(f))
        if not flds:
            body.append('\tint empty_; /* no fields: C needs a member */')
        self.h.append('/* %s */\nstruct %s {\n%s\n};' % (comment, t, '\n'.join(body)))

    def dec_value(self, f, dst, v):
        """C statement(s) decoding json value v into lvalue dst; sets r."""
        k, p = f['kind'], f['p']
        if k == 'str':
            return 'r = ocpp_rt_string(%s, err, %d, %s);' % (v, p['maxLength'], dst)
        if k == 'strp':
            return 'r = ocpp_rt_string_dup(%s, err, %d, &%s);' % (v, p.get('maxLength', 0), dst)
        if k == 'uri':
            return 'r = ocpp_rt_uri(%s, err, &%s);' % (v, dst)
        if k == 'datetime':
            return 'r = ocpp_rt_datetime(%s, err, &%s);' % (v, dst)
        if k == 'int':
            mn = p.get('minimum')
            return 'r = ocpp_rt_int(%s, err, %s, &%s);' % (v, 'INT32_MIN' if mn is None else mn, dst)
        if k == 'num':
            return 'r = ocpp_rt_number(%s, err, %r, &%s);' % (v, p.get('multipleOf', 0.0), dst)
        if k == 'bool':
            return 'r = ocpp_rt_bool(%s, err, &%s);' % (v, dst)
        if k == 'enum':
            return ('{\n\t\tint e = 0;\n\t\tr = ocpp_rt_enum(%s, err, %s_names, %s__COUNT, &e);\n'
                    '\t\t%s = (enum %s)e;\n\t}' % (v, f['t'], f['t'].upper(), dst, f['t']))
        if k == 'object':
            return 'r = dec_%s(%s, &%s, err, false);' % (f['t'], v, dst)
        n = dst.replace('o->', 'o->n_', 1)
        return ('r = ocpp_rt_array(%s, err, %d, %d, sizeof(*%s), (void **)&%s, &%s);\n'
                '\tfor (size_t i = 0; r == 0 && i < %s; i++) {\n'
                '\t\tsize_t at_i = ocpp_rt_push(err, NULL, (long)i);\n'
                '\t\t%s\n\t\tif (r == 0)\n\t\t\tocpp_rt_pop(err, at_i);\n\t}' % (
                    v, p.get('minItems', 0), p.get('maxItems', 0), dst, dst, n, n,
                    self.dec_value(f['item'], dst + '[i]', 'json_array_get(%s, i)' % v)))

    def enc_value(self, f, src):
        k = f['kind']
        if k == 'str':
            return 'json_string(%s)' % src
        if k in ('strp', 'uri'):
            return 'json_string(%s ? %s : "")' % (src, src)
        if k == 'datetime':
            return 'json_string(%s.str)' % src
        if k == 'int':
            return 'json_integer(%s)' % src
        if k == 'num':
            return 'ocpp_rt_number_json(%s)' % src
        if k == 'bool':
            return 'json_boolean(%s)' % src
        if k == 'enum':
            return 'ocpp_rt_enum_json(%s_names, %s__COUNT, (int)%s)' % (f['t'], f['t'].upper(), src)
        if k == 'object':
            return 'enc_%s(&%s)' % (f['t'], src)
        return None

    def free_value(self, f, x):
        k = f['kind']
        if k in ('strp', 'uri'):
            return 'free(%s);' % x
        if k == 'object':
            return 'free_%s(&%s);' % (f['t'], x)
        if k == 'array':
            inner = self.free_value(f['item'], x + '[i]')
            loop = ('for (size_t i = 0; i < o->n_%s; i++)\n\t\t%s\n\t' % (x[3:], inner)) if inner else ''
            return loop + 'free(%s);' % x
        return None

    def emit_codec(self, t, flds):
        """Static dec_/enc_/free_ functions of a struct; definitions come
        before their users (visit()), so no forward declarations."""
        # decode
        names = ', '.join(cstr(f['j']) for f in flds) or 'NULL'
        out = ['static int dec_%s(const json_t *j, struct %s *o, struct ocpp_err *err, bool top)\n{' % (t, t),
               '\tstatic const char *const known[] = { %s };' % names,
               '\tint r = ocpp_rt_object(j, err, top, known, %d);' % len(flds),
               '\tif (r)\n\t\treturn r;']
        for f in flds:
            dst = 'o->' + f['c']
            out.append('\t{\n\tsize_t at = ocpp_rt_push(err, %s, -1);' % cstr(f['j']))
            out.append('\tconst json_t *v = json_object_get(j, %s);' % cstr(f['j']))
            if f['req']:
                out.append('\tif (!v)\n\t\treturn ocpp_rt_missing(err);')
            else:
                out.append('\tif (v) {\n\t%s = true;' % ('o->has_' + f['c']))
            out.append('\t' + self.dec_value(f, dst, 'v'))
            out.append('\tif (r)\n\t\treturn r;' + ('' if f['req'] else '\n\t}'))
            out.append('\tocpp_rt_pop(err, at);\n\t}')
        out.append('\treturn 0;\n}\n')
        # encode
        out.append('static json_t *enc_%s(const struct %s *o)\n{\n\tjson_t *j = json_object();\n'
                   '\tif (!j)\n\t\treturn NULL;' % (t, t))
        if not flds:
            out.append('\t(void)o;')
        for f in flds:
            cond = '' if f['req'] else 'if (o->has_%s) ' % f['c']
            src = 'o->' + f['c']
            if f['kind'] == 'array':
                out.append('\t%s{\n\t\tjson_t *a = json_array();\n'
                           '\t\tif (!a || json_object_set_new(j, %s, a))\n\t\t\tgoto fail;\n'
                           '\t\tfor (size_t i = 0; i < o->n_%s; i++)\n'
                           '\t\t\tif (json_array_append_new(a, %s))\n\t\t\t\tgoto fail;\n\t}' % (
                               cond, cstr(f['j']), f['c'], self.enc_value(f['item'], src + '[i]')))
            else:
                out.append('\tif (%sjson_object_set_new(j, %s, %s))\n\t\tgoto fail;' % (
                    '' if f['req'] else 'o->has_%s && ' % f['c'], cstr(f['j']), self.enc_value(f, src)))
        out.append('\treturn j;\n' + ('fail:\n\tjson_decref(j);\n\treturn NULL;\n' if flds else '') + '}\n')
        # free
        frees = [x for x in (self.free_value(f, 'o->' + f['c']) for f in flds) if x]
        out.append('static void free_%s(struct %s *o)\n{\n\t%s\n}\n' % (
            t, t, '\n\t'.join(frees) if frees else '(void)o;'))
        self.c.append('\n'.join(out))

    def emit_message(self, t, schema, where):
        flds = self.fields(schema, where)
        self.emit_struct(t, flds, schema.get('title', t))
        self.emit_codec(t, flds)
        self.h.append('int %s_decode(const json_t *j, struct %s *out, struct ocpp_err *err)\n'
                      '\t__attribute__((warn_unused_result));\n'
                      'json_t *%s_encode(const struct %s *in);\n'
                      'void %s_free(struct %s *p);\n' % (t, t, t, t, t, t))
        self.c.append('int %s_decode(const json_t *j, struct %s *out, struct ocpp_err *err)\n{\n'
                      '\tmemset(out, 0, sizeof(*out));\n\tocpp_rt_begin(err);\n'
                      '\tint r = dec_%s(j, out, err, true);\n\tif (r)\n\t\t%s_free(out);\n\treturn r;\n}\n'
                      'json_t *%s_encode(const struct %s *in)\n{\n\treturn enc_%s(in);\n}\n'
                      'void %s_free(struct %s *p)\n{\n\tif (!p)\n\t\treturn;\n\tfree_%s(p);\n'
                      '\tmemset(p, 0, sizeof(*p));\n}\n' % (t, t, t, t, t, t, t, t, t, t))
        for side, arg in (('decode', 'const json_t *j, void *p, struct ocpp_err *err'),
                          ('encode', 'const void *p'), ('free', 'void *p')):
            call = {'decode': '%s_decode(j, p, err)', 'encode': '%s_encode(p)', 'free': '%s_free(p)'}[side] % t
            rt = {'decode': 'int', 'encode': 'json_t *', 'free': 'void'}[side]
            self.c.append('static %s %s_%s_any(%s)\n{\n\t%s%s;\n}' % (
                rt, t, side, arg, '' if side == 'free' else 'return ', call))

    def run(self, listfile, out_h, out_c):
        base = os.path.dirname(os.path.abspath(listfile))
        actions = []
        with open(listfile) as fh:
            for line in fh:
                if line.strip() and not line.startswith('#'):
                    name, profile, sender = line.split()
                    if sender not in ('cp', 'cs', 'both'):
                        self.fail(listfile, 'bad sender %s' % sender)
                    actions.append((name, profile, sender))
        actions.sort()
        schemas = {}
        for name, _, _ in actions:
            for suffix in ('', 'Response'):
                path = os.path.join(base, 'schemas', name + suffix + '.json')
                with open(path) as fh:
                    schemas[name + suffix] = s = json.load(fh)
                self.check_keys(s, path)
                self.add_defs(s, path)
                for p in s.get('properties', {}).values():
                    for r in (p.get('$ref'), p.get('items', {}).get('$ref')):
                        if r:
                            self.visit(r.split('/')[-1], path)
        for name in self.order:
            d = self.defs[name]
            if 'enum' in d:
                self.emit_enum(name, d)
        for name in self.order:
            d = self.defs[name]
            if 'enum' not in d:
                t = ctype_name(name)
                flds = self.fields(d, name)
                self.emit_struct(t, flds, name)
                self.emit_codec(t, flds)
        table = []
        for name, profile, sender in actions:
            req, conf = 'ocpp_%s_req' % snake(name), 'ocpp_%s_conf' % snake(name)
            self.emit_message(req, schemas[name], name)
            self.emit_message(conf, schemas[name + 'Response'], name + 'Response')
            senders = {'cp': 'OCPP_SENDER_CP', 'cs': 'OCPP_SENDER_CS',
                       'both': 'OCPP_SENDER_CP | OCPP_SENDER_CS'}[sender]
            table.append('\t{ %s, %s, %s, sizeof(struct %s), sizeof(struct %s),\n'
                         '\t  %s_decode_any, %s_encode_any, %s_free_any,\n'
                         '\t  %s_decode_any, %s_encode_any, %s_free_any },' % (
                             cstr(name), cstr(profile), senders, req, conf,
                             req, req, req, conf, conf, conf))
        self.c.append('const struct ocpp_action ocpp_actions[] = {\n%s\n};\n'
                      'const size_t ocpp_actions_count = %d;\n' % ('\n'.join(table), len(actions)))
        self.c.append('static int action_cmp(const void *key, const void *elem)\n{\n'
                      '\treturn strcmp(key, ((const struct ocpp_action *)elem)->name);\n}\n\n'
                      'const struct ocpp_action *ocpp_action_find(const char *name)\n{\n'
                      '\treturn bsearch(name, ocpp_actions, ocpp_actions_count, sizeof(ocpp_actions[0]), action_cmp);\n}')
        guard = 'WATTSTREAM_OCPP_MESSAGES_H'
        with open(out_h, 'w') as fh:
            fh.write(HEADER_TOP % (guard, guard) + '\n'.join(self.h) + HEADER_END % guard)
        with open(out_c, 'w') as fh:
            fh.write(SOURCE_TOP + reindent('\n'.join(self.c)) + '\n')


HEADER_TOP = '''/* ocpp_messages.h: GENERATED by ocpp/gen_codecs.py from ocpp/schemas/.
 * Do not edit; see docs/ocpp-codec.md for the naming and ownership rules. */
#ifndef %s
#define %s

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "wattstream/ocpp_rpc.h"

#define OCPP_SENDER_CP 1u /* the charge point sends this CALL */
#define OCPP_SENDER_CS 2u /* the central system sends this CALL */

/* One row per action: sizes and type-erased codecs of the request (the
 * CALL payload) and of the response (the CALLRESULT payload). */
struct ocpp_action {
	const char *name;
	const char *profile;
	unsigned senders;
	size_t req_size, conf_size;
	int (*req_decode)(const json_t *j, void *req, struct ocpp_err *err);
	json_t *(*req_encode)(const void *req);
	void (*req_free)(void *req);
	int (*conf_decode)(const json_t *j, void *conf, struct ocpp_err *err);
	json_t *(*conf_encode)(const void *conf);
	void (*conf_free)(void *conf);
};
extern const struct ocpp_action ocpp_actions[]; /* sorted by name */
extern const size_t ocpp_actions_count;
/* NULL if the action is unknown (answer NotImplemented). */
const struct ocpp_action *ocpp_action_find(const char *name);

/* Every message X below has, for its request (_req) and response (_conf):
 *   int X_decode(const json_t *j, struct X *out, struct ocpp_err *err);
 *     Zeroes *out, validates j fully.  Returns 0 (free *out with X_free),
 *     OCPP_E_INVALID (err: CALLERROR code, field path, description; *out
 *     already freed) or -ENOMEM.
 *   json_t *X_encode(const struct X *in);
 *     A new reference; NULL if out of memory or an enum is out of range.
 *     Optional fields are sent only when has_<field> is set.
 *   void X_free(struct X *p);
 *     Frees the arrays and heap strings *p owns and zeroes it; NULL is fine.
 * Every enum E has E_str(), E_parse(), E_names[] and E__COUNT. */

'''
HEADER_END = '''
#endif /* %s */
'''
SOURCE_TOP = '''/* ocpp_messages.c: GENERATED by ocpp/gen_codecs.py from ocpp/schemas/.
 * Decoders validate fully and stop at the first violation; cost is linear
 * in the payload size, memory is the struct plus its arrays. */
#include "ocpp_messages.h"

#include <stdlib.h>
#include <string.h>

'''

if __name__ == '__main__':
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    Gen().run(*sys.argv[1:])
